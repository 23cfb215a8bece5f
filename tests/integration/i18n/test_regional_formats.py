"""Translated by the language, written by the full locale: one Spanish catalogue (Latin American wording) for
every Spanish-speaking member, and numbers as the member's own country writes them (the browser's locale)."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.responses.models import Answer
from tests import factories


@pytest.mark.parametrize(
    ("accept_language", "example", "typed", "stored"),
    [
        ("es-MX,es;q=0.9", "1,234.5", "1,234.5", 1234.5),  # Mexico writes numbers as the US does
        ("es-AR,es;q=0.9", "1.234,5", "1.234,5", 1234.5),  # Argentina as Spain does
        ("es-CO", "1.234,5", "12,5", 12.5),
        ("es", "1.234,5", "12,5", 12.5),
    ],
)
def test_spanish_member_types_numbers_as_their_country_writes_them(
    app: FastAPI, client: TestClient, session: Session, accept_language: str, example: str, typed: str, stored: float
) -> None:
    cluster = factories.cluster(session, template_key="scottish-enterprise-cluster")
    participant = factories.participant(session, cluster, language="es")
    round_ = factories.open_round(session, cluster)
    link = factories.member_link(session, participant)
    session.commit()
    http = TestClient(app, headers={"Accept-Language": accept_language})
    assert http.get(link, follow_redirects=False).status_code == 303
    csrf = http.get("/api/v1/me").json()["csrf_token"]
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf}

    refused = http.post(f"/rounds/{round_.id}/autosave", data={"k.turnover-growth": "mucho"}, headers=headers)
    # The same Latin American wording for every country; the example as that country writes numbers.
    assert f"Ingrese un número, escrito así: {example}." in refused.text
    saved = http.post(f"/rounds/{round_.id}/autosave", data={"k.turnover-growth": typed}, headers=headers)
    assert saved.status_code == 200 and "Guardado" in saved.text
    session.expire_all()
    answer = session.exec(select(Answer).where(Answer.kpi_key == "turnover-growth")).one()
    assert answer.value_num == stored
