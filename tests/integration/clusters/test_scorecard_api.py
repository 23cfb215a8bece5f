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


def _kpi(scorecard: dict, key: str) -> dict:  # type: ignore[type-arg]
    return next(k for p in scorecard["perspectives"] for c in p["csfs"] for k in c["kpis"] if k["key"] == key)


def test_a_share_of_yes_answers_is_a_percentage_and_says_so(admin_client: TestClient, session: Session) -> None:
    """share_yes values are percentages but the scorecard said `unit: null`, and 0.1 -> 0.6 was accepted."""
    cluster = factories.cluster(session, template_key="scottish-enterprise-cluster")
    session.commit()
    scorecard = admin_client.get(f"{API}/clusters/{cluster.id}/scorecard").json()
    share = _kpi(scorecard, "firms-investing")
    assert (share["aggregate"], share["unit"]) == ("share_yes", "%")
    assert _kpi(scorecard, "staff-trained")["unit"] == "%"  # a percent KPI too
    url = f"{API}/clusters/{cluster.id}/scorecard/kpis/firms-investing"

    fraction = admin_client.patch(url, json={"baseline": 0.1, "target": 0.6})
    assert fraction.status_code == 422
    assert fraction.json()["detail"] == ("This indicator is a percentage (0 to 100), not a fraction: type 10 for 0.1.")
    assert fraction.json()["errors"] == [{"field": "baseline", "message": fraction.json()["detail"]}]
    in_spanish = admin_client.patch(url, json={"target": 0.6}, headers={"Accept-Language": "es"})
    assert in_spanish.json()["detail"].endswith("escriba 60 en lugar de 0,6.")
    unchanged = _kpi(admin_client.get(f"{API}/clusters/{cluster.id}/scorecard").json(), "firms-investing")
    assert (unchanged["baseline"], unchanged["target"]) == (share["baseline"], share["target"])
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "kpi_settings")).all() == []

    assert admin_client.patch(url, json={"baseline": 10, "target": 60}).status_code == 200
    schemas = admin_client.get("/openapi.json").json()["components"]["schemas"]
    assert "never the fraction 0.6" in schemas["KpiSettingsUpdate"]["properties"]["target"]["description"]
    assert '"%" for percentages' in schemas["ScorecardKpi"]["properties"]["unit"]["description"]


def test_a_target_against_the_direction_is_refused(admin_client: TestClient, session: Session) -> None:
    """An "increase" KPI with target below baseline (10 -> 2) was accepted and then quietly not scored."""
    cluster = factories.cluster(session)
    session.commit()
    url = f"{API}/clusters/{cluster.id}/scorecard/kpis/sector-financial-products"
    wrong = admin_client.patch(url, json={"baseline": 10, "target": 2})
    assert wrong.status_code == 422
    assert wrong.json()["detail"] == (
        "The target (2) is below the baseline (10), but higher is better for this indicator: swap them, "
        "or make lower better."
    )
    kpi = _kpi(admin_client.get(f"{API}/clusters/{cluster.id}/scorecard").json(), "sector-financial-products")
    assert (kpi["baseline"], kpi["target"]) == (None, None)
    # Also when only one of them changes, against the one stored.
    assert admin_client.patch(url, json={"baseline": 2, "target": 10}).status_code == 200
    assert admin_client.patch(url, json={"target": 1}).status_code == 422
    assert admin_client.patch(url, json={"baseline": 20}).status_code == 422
    base = {"key": "own-fairs", "csf_key": "accessibility", "title": "Joint trade fairs", "kpi_type": "count"}
    custom = admin_client.post(f"{API}/clusters/{cluster.id}/scorecard/kpis", json={**base, "baseline": 4, "target": 1})
    assert custom.status_code == 422 and "higher is better" in custom.json()["detail"]
