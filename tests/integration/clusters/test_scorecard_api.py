"""A cluster's own scorecard: KPI settings with audit, cluster-defined KPIs checked like template ones."""

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.audit.models import AuditEvent
from tests import factories

API = "/api/v1"


def test_kpi_settings_change_is_audited_and_applied(admin_client: TestClient, session: Session) -> None:
    cluster = factories.cluster(session)
    session.commit()
    changed = admin_client.patch(
        f"{API}/clusters/{cluster.id}/scorecard/kpis/sector-financial-products", json={"baseline": 2, "target": 8}
    )
    assert changed.status_code == 200
    kpi = next(
        k
        for p in changed.json()["perspectives"]
        for c in p["csfs"]
        for k in c["kpis"]
        if k["key"] == "sector-financial-products"
    )
    assert (kpi["baseline"], kpi["target"]) == (2, 8)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "kpi_settings")).one()
    assert event.after == {"key": "sector-financial-products", "baseline": 2, "target": 8}


def test_cluster_defined_kpis_are_validated(admin_client: TestClient, session: Session) -> None:
    cluster = factories.cluster(session)
    session.commit()
    url = f"{API}/clusters/{cluster.id}/scorecard/kpis"
    base = {"key": "joint-trade-fairs", "csf_key": "accessibility", "title": "Joint trade fair stands"}

    assert admin_client.post(url, json={**base, "csf_key": "no-such-csf"}).status_code == 422
    no_question = admin_client.post(url, json={**base, "level": "member", "kpi_type": "yes_no"})
    assert no_question.status_code == 422
    assert "question" in no_question.text
    assert admin_client.post(url, json={**base, "key": "lean-manufacturing"}).status_code == 409
    created = admin_client.post(url, json={**base, "baseline": 1, "target": 4, "language": "en"})
    assert created.status_code == 201
    kpi = next(
        k for p in created.json()["perspectives"] for c in p["csfs"] for k in c["kpis"] if k["key"] == base["key"]
    )
    assert kpi["is_custom"] and kpi["csf_key"] == "accessibility"
    assert admin_client.post(url, json={**base, "baseline": 1, "target": 4}).status_code == 409


def test_unknown_kpi_and_cluster_are_404(admin_client: TestClient, session: Session) -> None:
    cluster = factories.cluster(session)
    session.commit()
    assert admin_client.patch(f"{API}/clusters/{cluster.id}/scorecard/kpis/nope", json={"target": 1}).status_code == 404
    assert admin_client.get(f"{API}/clusters/424242/scorecard").status_code == 404
