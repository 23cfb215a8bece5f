"""Benchmark roll-ups are brought up to date in the background (app/benchmarks/refresher.py), never by a read;
the benchmark pages say how current their figures are."""

import time

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.audit import service as audit_service
from app.benchmarks import refresher, service
from app.clusters import service as cluster_service
from app.clusters.models import Cluster
from app.config import Settings
from app.main import create_app
from tests import factories
from tests.integration.benchmarks.world import rated_cluster, score_of

HEATMAP = "/api/v1/benchmarks/heatmap?template=thai-food-cluster"


def _agency(session: Session, programme: object) -> dict[str, str]:
    user = factories.user(session, grants=(("agency", programme),))  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {factories.api_token(session, user)}"}


def test_a_pass_recomputes_what_changed_and_the_pages_say_how_current_they_are(
    client: TestClient, session: Session, engine: Engine
) -> None:
    # Open rounds: a closed round's figures are computed as it closes (frozen, docs/disclosure.md); open ones
    # wait for the refresher.
    programme = factories.programme(session)
    rated_cluster(session, programme, 2, name="Low", close=False)
    rated_cluster(session, programme, 4, name="High", close=False)
    agency = _agency(session, programme)
    session.commit()

    before = client.get(HEATMAP, headers=agency).json()
    assert [r["values"]["overall"] for r in before["rows"]] == [None, None]
    assert before["freshness"] == {"updated_at": None, "pending": 2}
    page = client.get("/benchmarks?template=thai-food-cluster", headers=agency).text
    assert "No figures have been computed yet." in page
    assert "Newer data of 2 initiatives is not in these figures yet; it is added within a minute." in page

    assert refresher.refresh_stale(engine) == 2
    assert refresher.refresh_stale(engine) == 0  # nothing moved since
    after = client.get(HEATMAP, headers=agency).json()
    assert [r["values"]["overall"] for r in after["rows"]] == [score_of(4), score_of(2)]
    assert after["freshness"]["pending"] == 0 and after["freshness"]["updated_at"] is not None
    page = client.get("/benchmarks?template=thai-food-cluster", headers=agency).text
    assert "Figures computed on" in page and "not in these figures yet" not in page

    # A new round of one cluster: that cluster alone is behind until the next pass.
    rated_cluster(session, programme, 5, name="Newcomer", close=False)
    session.commit()
    assert client.get(HEATMAP, headers=agency).json()["freshness"]["pending"] == 1
    assert refresher.refresh_stale(engine) == 1


def test_the_app_refreshes_in_the_background(settings: Settings, session: Session) -> None:
    app = create_app(settings.model_copy(update={"benchmark_refresh_seconds": 0.2}))
    with TestClient(app) as http, Session(app.state.engine) as own:
        programme = factories.programme(own)
        rated_cluster(own, programme, 3, name="Only")
        agency = _agency(own, programme)
        own.commit()
        deadline = time.monotonic() + 20
        while (body := http.get(HEATMAP, headers=agency).json())["freshness"]["pending"]:
            assert time.monotonic() < deadline, "the roll-up was never refreshed"
            time.sleep(0.1)
        assert body["rows"][0]["values"]["overall"] == score_of(3)


def test_changes_that_move_scores_raise_the_clusters_data_revision(session: Session) -> None:
    """What marks a roll-up behind: an audited change of the cluster (one at a time or written in one statement)
    and a participant added or changed (adding one is not audited); anything else leaves the revision alone."""
    cluster = factories.cluster(session, shares_benchmarks=True)
    other = factories.cluster(session, shares_benchmarks=True)

    def revisions() -> tuple[int, int]:
        rows = dict(session.exec(select(Cluster.id, Cluster.data_revision)).all())
        return rows[cluster.id], rows[other.id]

    start, other_start = revisions()
    member = factories.participant(session, cluster)
    assert revisions() == (start + 1, other_start)
    cluster_service.deactivate_participant(session, member, actor="test")
    assert revisions() == (start + 2, other_start)
    event = {"actor": "test", "action": "kpi_value_set", "entity": "round", "entity_id": 1}
    audit_service.record_all(
        session, [audit_service.event(**event, cluster_id=cluster.id), audit_service.event(**event, cluster_id=None)]
    )
    assert revisions() == (start + 3, other_start)
    session.exec(select(Cluster)).all()  # reading changes nothing
    assert revisions() == (start + 3, other_start)
    assert cluster.id in service.stale_clusters(session)
