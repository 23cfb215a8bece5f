"""The member's self-evaluation form over HTTP: steps, autosave, plain posts, review, submit, proposals."""

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.audit.models import AuditEvent
from app.clusters.models import Cluster, Participant
from app.proposals.models import IndicatorProposal
from app.responses.models import AnswerChange, Response
from app.rounds import service as round_service
from app.rounds.models import Round
from app.rounds.schemas import RoundStatus
from tests import factories


class Member:
    """A member's phone: a client logged in through the personal link."""

    def __init__(self, app: FastAPI, link: str) -> None:
        self.http = TestClient(app)
        assert self.http.get(link, follow_redirects=False).status_code == 303
        self.csrf = self.http.get("/api/v1/me").json()["csrf_token"]

    def autosave(self, round_: Round, name: str, value: str) -> str:
        reply = self.http.post(
            f"/rounds/{round_.id}/autosave",
            data={name: value},
            headers={"HX-Request": "true", "X-CSRF-Token": self.csrf},
        )
        assert reply.status_code == 200
        return reply.text

    def post_step(self, round_: Round, step: int, fields: dict[str, str], go: str = "next") -> object:
        data = {**fields, "csrf_token": self.csrf, "go": go}
        return self.http.post(f"/rounds/{round_.id}/answer/{step}", data=data, follow_redirects=False)


@pytest.fixture
def member(app: FastAPI, session: Session, setting: tuple[Cluster, Participant, Round]) -> Iterator[Member]:
    link = factories.member_link(session, setting[1])
    session.commit()
    phone = Member(app, link)
    yield phone
    phone.http.close()


def _answers(session: Session, participant: Participant) -> dict[str, float | str | None]:
    assert participant.id is not None
    return factories.stored_answers(session, participant.id)[1]


def test_step_asks_each_question_with_a_fitting_input_and_a_label(member: Member, setting: tuple) -> None:
    _cluster, _participant, round_ = setting
    page = member.http.get(f"/rounds/{round_.id}/answer/1").text
    assert "Step 1 of 4" in page
    # Every CSF of the financial perspective is rated on the template's 1..5 scale, with its words.
    for csf in ("ease-of-access-to-loans", "financial-market-sophistication", "cost-control"):
        assert page.count(f'name="r.{csf}"') == 5
    assert "Not at all" in page and "Fully" in page
    # yes/no as two buttons, numbers with a numeric keyboard; cluster-level KPIs are not asked.
    assert page.count('name="k.business-marketing-plans"') == 2
    assert re.search(r'name="k.loan-repayment-period"[^>]*inputmode="decimal"', page, re.S)
    assert 'name="k.non-performing-loans"' not in page
    # Every text input and textarea has a label tied to it.
    for field_id in re.findall(r'<(?:input type="text"|textarea) id="([^"]+)"', page):
        assert f'<label for="{field_id}">' in page


def test_units_are_shown_in_the_members_language(app: FastAPI, session: Session, setting: tuple) -> None:
    cluster, _participant, round_ = setting
    links = [
        factories.member_link(session, factories.participant(session, cluster, language=lang)) for lang in ["en", "th"]
    ]
    session.commit()
    english, thai = (Member(app, link) for link in links)
    # The Thai template gives the repayment period's unit in both languages: {en: months, th: เดือน}.
    assert '<span aria-hidden="true">months</span>' in english.http.get(f"/rounds/{round_.id}/answer/1").text
    thai_page = thai.http.get(f"/rounds/{round_.id}/answer/1").text
    assert '<span aria-hidden="true">เดือน</span>' in thai_page and ">months<" not in thai_page


def test_autosave_saves_one_field_and_explains_a_wrong_value(member: Member, setting: tuple, session: Session) -> None:
    _cluster, participant, round_ = setting
    assert member.autosave(round_, "k.customer-satisfaction", "85") == "Saved"
    assert member.autosave(round_, "r.quality-of-goods-and-services", "4") == "Saved"
    reply = member.autosave(round_, "k.customer-satisfaction", "185")
    assert "between 0 and 100" in reply and "error" in reply
    answers = _answers(session, participant)
    assert answers["customer-satisfaction"] == 85.0  # the wrong value changed nothing
    assert answers["r.quality-of-goods-and-services"] == 4


def test_a_comment_saved_alone_keeps_the_rating(member: Member, setting: tuple, session: Session) -> None:
    _cluster, participant, round_ = setting
    member.autosave(round_, "r.cost-control", "2")
    member.autosave(round_, "c.cost-control", "No joint purchasing yet")
    member.autosave(round_, "r.cost-control", "3")
    answers = _answers(session, participant)
    assert answers["r.cost-control"] == 3
    assert answers["c.cost-control"] == "No joint purchasing yet"


def test_plain_post_keeps_what_was_right_and_marks_what_was_not(
    member: Member, setting: tuple, session: Session
) -> None:
    _cluster, participant, round_ = setting
    fields = {
        "r.quality-of-goods-and-services": "5",
        "k.customer-satisfaction": "90",
        "k.returns-complaints": "-4",
        "k.online-trading": "yes",
    }
    reply = member.post_step(round_, 2, fields)
    assert reply.status_code == 422  # type: ignore[attr-defined]
    page = reply.text  # type: ignore[attr-defined]
    assert "Please enter a percentage between 0 and 100." in page
    assert 'value="-4"' in page  # what the member typed is still in the field
    assert re.search(r'id="k-returns-complaints"[^>]*aria-invalid="true"', page, re.S)
    answers = _answers(session, participant)
    assert answers["customer-satisfaction"] == 90.0 and answers["online-trading"] == 1.0
    assert "returns-complaints" not in answers
    # The counter counts the three stored answers, not the refused one that stays in its field.
    stored_count = re.search(r"(\d+) of (\d+) questions answered", page)
    assert stored_count is not None and stored_count.group(1) == "3", stored_count
    assert re.search(r'<progress max="\d+" value="3"', page)
    assert f">3 of {stored_count.group(2)} questions answered<" in member.http.get(f"/rounds/{round_.id}/answer/2").text


def test_steps_without_javascript_resume_review_and_submit(member: Member, setting: tuple, session: Session) -> None:
    _cluster, participant, round_ = setting
    reply = member.post_step(round_, 1, {"r.ease-of-access-to-loans": "3", "k.business-marketing-plans": "no"})
    assert reply.headers["location"] == f"/rounds/{round_.id}/answer/2"  # type: ignore[attr-defined]
    # Coming back later: straight to the first step with an open question (step 1 still has some).
    resume = member.http.get(f"/rounds/{round_.id}/answer", follow_redirects=False)
    assert resume.headers["location"] == f"/rounds/{round_.id}/answer/1"
    page = member.http.get(f"/rounds/{round_.id}/answer/1").text
    assert re.search(r'name="r.ease-of-access-to-loans" value="3" checked', page)
    review = member.http.get(f"/rounds/{round_.id}/review").text
    assert "Not answered" in review and "questions have no answer yet" in review
    done = member.http.post(f"/rounds/{round_.id}/submit", data={"csrf_token": member.csrf}, follow_redirects=False)
    assert done.headers["location"] == f"/rounds/{round_.id}/thanks"
    session.expire_all()
    response = session.exec(select(Response).where(Response.participant_id == participant.id)).one()
    assert response.status == "submitted"
    assert (
        member.http.get(f"/rounds/{round_.id}/answer", follow_redirects=False).headers["location"].endswith("/thanks")
    )


def test_thanks_shows_results_only_when_the_cluster_shows_them(
    member: Member, setting: tuple, session: Session
) -> None:
    cluster, _participant, round_ = setting
    member.autosave(round_, "r.cost-control", "4")
    member.http.post(f"/rounds/{round_.id}/submit", data={"csrf_token": member.csrf})
    thanks = member.http.get(f"/rounds/{round_.id}/thanks").text
    assert "Thank you!" in thanks and "How the cluster is doing so far" in thanks
    assert "Based on 1 submitted answer." in thanks
    cluster.shows_members_results = False
    session.add(cluster)
    session.commit()
    assert "How the cluster is doing so far" not in member.http.get(f"/rounds/{round_.id}/thanks").text


def test_correction_after_submit_is_saved_and_audited(member: Member, setting: tuple, session: Session) -> None:
    _cluster, participant, round_ = setting
    member.autosave(round_, "k.staff-turnover", "12")
    member.http.post(f"/rounds/{round_.id}/submit", data={"csrf_token": member.csrf})
    assert "saved as a correction" in member.http.get(f"/rounds/{round_.id}/answer/3").text
    assert member.autosave(round_, "k.staff-turnover", "8") == "Saved"
    assert _answers(session, participant)["staff-turnover"] == 8.0
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "answer_corrected")).all()
    assert [(e.before or {}).get("value_num") for e in events] == [12.0]
    assert [(e.after or {}).get("value_num") for e in events] == [8.0]


def test_closed_round_refuses_changes(member: Member, setting: tuple, session: Session) -> None:
    _cluster, participant, round_ = setting
    member.autosave(round_, "k.staff-turnover", "12")
    round_service.set_status(session, round_, RoundStatus.closed, actor="test")
    session.commit()
    reply = member.http.post(
        f"/rounds/{round_.id}/autosave",
        data={"k.staff-turnover": "3"},
        headers={"HX-Request": "true", "X-CSRF-Token": member.csrf},
    )
    assert reply.status_code == 409
    assert _answers(session, participant)["staff-turnover"] == 12.0
    assert "This round is closed" in member.http.get(f"/rounds/{round_.id}/review").text


def test_member_proposes_an_indicator(member: Member, setting: tuple, session: Session) -> None:
    cluster, participant, round_ = setting
    url = f"/rounds/{round_.id}/proposals"
    bad = member.http.post(url, data={"csrf_token": member.csrf, "title": "x", "csf_key": ""})
    assert bad.status_code == 422
    assert "Please name the indicator" in bad.text and "Please choose which success factor" in bad.text
    assert session.exec(select(IndicatorProposal)).all() == []
    good = member.http.post(
        url,
        data={
            "csrf_token": member.csrf,
            "title": "Joint purchases with other members",
            "csf_key": "supply-chain-integration",
            "question": "How many joint purchases did you make this half-year?",
            "level": "member",
            "kpi_type": "count",
            "direction": "increase",
        },
        headers={"HX-Request": "true"} | {"X-CSRF-Token": member.csrf},
    )
    assert good.status_code == 200 and "your proposal was sent" in good.text
    assert "<html" not in good.text  # htmx gets only the form area
    session.commit()  # end the test's read transaction: SQLite keeps its snapshot until then
    proposal = session.exec(select(IndicatorProposal)).one()
    assert (proposal.cluster_id, proposal.participant_id, proposal.round_id) == (cluster.id, participant.id, round_.id)
    assert (proposal.kpi_type, proposal.status) == ("count", "proposed")
    assert "waiting for the facilitator" in member.http.get(url).text


def test_only_the_member_themself_reaches_the_form(
    app: FastAPI, client: TestClient, session: Session, setting: tuple
) -> None:
    cluster, _participant, round_ = setting
    other_cluster = factories.cluster(session)
    stranger = factories.participant(session, other_cluster)
    facilitator = factories.user(session, grants=(("facilitator", cluster),))
    link = factories.member_link(session, stranger)
    session.commit()
    phone = Member(app, link)
    assert phone.http.get(f"/rounds/{round_.id}/answer/1").status_code == 404
    staff = TestClient(app)
    csrf = staff.get("/api/v1/me").json()["csrf_token"]
    staff.post("/login", data={"email": facilitator.email, "password": factories.PASSWORD, "csrf_token": csrf})
    assert staff.get("/api/v1/me").json()["kind"] == "user"
    assert staff.get(f"/rounds/{round_.id}/answer/1").status_code == 404


def _device_save(member: Member, round_: Round, name: str, value: str, change_id: str, at_ms: int) -> str:
    reply = member.http.post(
        f"/rounds/{round_.id}/autosave",
        data={name: value, "client_id": change_id, "client_at": str(at_ms)},
        headers={"HX-Request": "true", "X-CSRF-Token": member.csrf},
    )
    assert reply.status_code == 200
    return reply.text


def test_a_change_sent_twice_is_saved_once(member: Member, setting: tuple, session: Session) -> None:
    _cluster, participant, round_ = setting
    at = 1_790_000_000_000
    assert _device_save(member, round_, "k.staff-turnover", "12", "phone-a-0001", at) == "Saved"
    # The device edits the answer, then a retry of the first change arrives late: it changes nothing.
    assert _device_save(member, round_, "k.staff-turnover", "9", "phone-a-0002", at + 1000) == "Saved"
    assert _device_save(member, round_, "k.staff-turnover", "12", "phone-a-0001", at) == "Saved"
    assert _answers(session, participant)["staff-turnover"] == 9.0
    assert len(session.exec(select(AnswerChange)).all()) == 2


def test_two_devices_last_edit_wins_and_every_version_is_kept(member: Member, setting: tuple, session: Session) -> None:
    _cluster, participant, round_ = setting
    at = 1_790_000_000_000
    # The tablet's edit (later) arrives first; the phone's older edit, queued offline, arrives after.
    _device_save(member, round_, "r.cost-control", "4", "tablet-0001", at + 60_000)
    _device_save(member, round_, "r.cost-control", "2", "phone-b-0001", at)
    assert _answers(session, participant)["r.cost-control"] == 4
    changes = session.exec(select(AnswerChange).order_by(AnswerChange.id)).all()  # type: ignore[arg-type]
    assert [(c.value, c.applied) for c in changes] == [("4", True), ("2", False)]
    superseded = session.exec(select(AuditEvent).where(AuditEvent.action == "answer_superseded")).one()
    assert (superseded.after or {})["value"] == "2"


def _member_in(app: FastAPI, session: Session, cluster: Cluster, **kind: str) -> tuple[Member, Participant]:
    participant = factories.participant(session, cluster, **kind)
    link = factories.member_link(session, participant)
    session.commit()
    return Member(app, link), participant


def test_numbers_are_read_as_the_member_writes_them(app: FastAPI, session: Session, setting: tuple) -> None:
    """A Thai member's 1,500 was saved as 1.5 ("Saved"), a Spanish member's 1.500 as 1.5 %."""
    cluster, _participant, round_ = setting
    thai, thai_member = _member_in(app, session, cluster, language="th")
    spanish, spanish_member = _member_in(app, session, cluster, language="es")

    assert thai.autosave(round_, "k.core-skills-participants", "1,500") == "บันทึกแล้ว"
    assert _answers(session, thai_member)["core-skills-participants"] == 1500.0

    # 1.500 in Spanish is one thousand five hundred: no percentage, so refused (not 1.5 %).
    refused = spanish.autosave(round_, "k.customer-satisfaction", "1.500")
    assert "Ingrese un porcentaje entre 0 y 100." in refused
    assert spanish.autosave(round_, "k.customer-satisfaction", "12,5") == "Guardado"
    # 1,500 could be 1,5 or 1500: both readings, and nothing stored.
    both = spanish.autosave(round_, "k.core-skills-participants", "1,500")
    assert "“1,500” puede ser 1,5 o 1500" in both
    answers = _answers(session, spanish_member)
    assert answers == {"customer-satisfaction": 12.5}
    # The stored answer comes back as the member writes it, so posting the page again keeps it.
    page = spanish.http.get(f"/rounds/{round_.id}/answer/2").text
    assert re.search(r'id="k-customer-satisfaction" name="k.customer-satisfaction" value="12,5"', page)
    assert spanish.post_step(round_, 2, {"k.customer-satisfaction": "12,5"}).status_code == 303  # type: ignore[attr-defined]
    assert _answers(session, spanish_member)["customer-satisfaction"] == 12.5


def test_questions_about_the_company_are_asked_of_firms_only(app: FastAPI, session: Session, setting: tuple) -> None:
    """Associations and institutes were asked "Has your company ...?" and their yes counted per firm."""
    cluster, _participant, round_ = setting
    institute, institute_member = _member_in(app, session, cluster, organisation_type="research")
    page = institute.http.get(f"/rounds/{round_.id}/answer/1").text
    assert 'name="r.ease-of-access-to-loans"' in page  # ratings are everyone's
    assert 'name="k.business-marketing-plans"' not in page
    refused = institute.autosave(round_, "k.business-marketing-plans", "yes")
    assert "This question is for firms only." in refused
    assert "business-marketing-plans" not in _answers(session, institute_member)


def test_a_change_id_is_one_change_forever(member: Member, setting: tuple, session: Session) -> None:
    _cluster, participant, round_ = setting
    at = 1_790_000_000_000
    assert _device_save(member, round_, "k.staff-turnover", "12", "phone-c-0001", at) == "Saved"
    reused = member.http.post(
        f"/rounds/{round_.id}/autosave",
        data={"k.staff-turnover": "30", "client_id": "phone-c-0001", "client_at": str(at)},
        headers={"HX-Request": "true", "X-CSRF-Token": member.csrf},
    )
    assert reused.status_code == 409
    assert _answers(session, participant)["staff-turnover"] == 12.0
