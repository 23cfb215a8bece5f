"""The member form over HTTP in the member's language: interface, template labels, messages, proposals."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.proposals.models import IndicatorProposal
from tests import factories


def _member(app: FastAPI, session: Session, *, template_key: str, language: str) -> tuple[TestClient, int, int]:
    cluster = factories.cluster(session, template_key=template_key)
    participant = factories.participant(session, cluster, language=language)
    round_ = factories.open_round(session, cluster)
    link = factories.member_link(session, participant)
    session.commit()
    http = TestClient(app)
    assert http.get(link, follow_redirects=False).status_code == 303
    return http, round_.id or 0, participant.id or 0


def test_thai_member_gets_thai_interface_and_thai_template_labels(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    http, round_id, _ = _member(app, session, template_key="thai-food-cluster", language="th")
    page = http.get(f"/rounds/{round_id}/answer/1", headers={"Accept-Language": "en"}).text
    assert '<html lang="th">' in page
    assert "<h1>ด้านการเงิน</h1>" in page and "ขั้นตอนที่ 1 จาก 4" in page
    assert "บันทึกและไปต่อ" in page and "lang-mark" not in page  # nothing untranslated to mark
    csrf = http.get("/api/v1/me").json()["csrf_token"]
    reply = http.post(
        f"/rounds/{round_id}/autosave",
        data={"k.customer-satisfaction": "180"},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert "โปรดกรอกร้อยละระหว่าง 0 ถึง 100" in reply.text


def test_spanish_member_on_a_template_without_spanish_sees_english_labels_marked(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    http, round_id, participant_id = _member(app, session, template_key="thai-food-cluster", language="es")
    page = http.get(f"/rounds/{round_id}/answer/1").text
    assert '<html lang="es">' in page and "Paso 1 de 4" in page and "Guardar y continuar" in page
    # The template has no Spanish: its labels come in its first language, tagged so.
    assert '<h1><span lang="en">Financial</span></h1>' in page
    # Said once, in Spanish; the sentences around the template's words are in the template's language too.
    assert "Este cuadro de mando todavía no tiene versión en español" in page
    assert '<span lang="en">In months.</span>' in page and "En months" not in page

    csrf = http.get("/api/v1/me").json()["csrf_token"]
    form = {"csrf_token": csrf, "title": "Compras conjuntas por semestre", "csf_key": "cost-control"}
    assert http.post(f"/rounds/{round_id}/proposals", data=form).status_code == 200
    proposal = session.exec(select(IndicatorProposal).where(IndicatorProposal.participant_id == participant_id)).one()
    assert proposal.language == "es"  # the language the member wrote it in

    # Shown to a Thai reader, it is marked as Spanish.
    http.post("/language", data={"language": "th", "next": "/", "csrf_token": csrf})
    listing = http.get(f"/rounds/{round_id}/proposals").text
    assert '<span lang="es">Compras conjuntas por semestre</span>' in listing
    assert 'title="เขียนเป็นภาษาสเปน">ES</small>' in listing
