"""The differencing control counts, for each measure, only the peers with a value for it (docs/disclosure.md,
rule 3); which measures a frozen entry has a value for is kept with the entry (its measure set)."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.benchmarks.models import BenchmarkEntry, BenchmarkMeasureSet, BenchmarkValue
from tests import factories
from tests.integration.benchmarks.world import MEASURE, bearer, kpi_row, peer, rated_cluster


@pytest.mark.parametrize("fourth_gives_the_kpi", [False, True])
def test_a_peer_without_a_value_is_not_in_that_measures_groups(
    app: FastAPI, client: TestClient, session: Session, fourth_gives_the_kpi: bool
) -> None:
    """Three peers of the viewer's sector give the KPI; a fourth, of another sector, gives scores and the KPI or
    scores only. Without its KPI, the whole programme and the viewer's sector are the same three peers for the
    KPI: shown. With it, or for the overall score, the two groups differ by the fourth alone: withheld, as
    comparing them would expose it."""
    programme = factories.programme(session)
    viewer = peer(session, programme, 0.0, sector="Seafood")
    for secret in (10.0, 40.0, 70.0):
        peer(session, programme, secret, sector="Seafood")
    if fourth_gives_the_kpi:
        peer(session, programme, 100.0, sector="Dairy")
    else:
        rated_cluster(session, programme, 3, sector="Dairy")
    facilitator = bearer(app, session, ("facilitator", viewer.cluster))
    session.commit()

    for same in ((), ("sector",)):
        kpi = kpi_row(facilitator, viewer.cluster, *same)
        if fourth_gives_the_kpi:
            assert kpi["peers"] is None and "differs by too few clusters" in kpi["withheld"]
        else:
            assert kpi["withheld"] is None
            assert (kpi["peers"]["n"], kpi["peers"]["q1"], kpi["peers"]["q3"]) == (3, 25.0, 55.0)
        response = facilitator.get(f"/api/v1/benchmarks/clusters/{viewer.cluster.id}", params={"same": list(same)})
        overall = next(m for m in response.json()["measures"] if m["measure"]["key"] == "overall")
        assert overall["peers"] is None and "differs by too few clusters" in overall["withheld"]


def test_a_frozen_entry_lists_exactly_the_measures_it_has_a_value_for(session: Session) -> None:
    programme = factories.programme(session)
    with_kpi = peer(session, programme, 5.0)
    without = rated_cluster(session, programme, 3)
    session.flush()
    for cluster_id in (with_kpi.cluster.id, without.id):
        entry = session.exec(select(BenchmarkEntry).where(BenchmarkEntry.cluster_id == cluster_id)).one()
        measure_set = session.get(BenchmarkMeasureSet, entry.measure_set)
        assert measure_set is not None
        values = session.exec(
            select(BenchmarkValue.measure).where(col(BenchmarkValue.round_id) == entry.round_id)
        ).all()
        assert measure_set.measures.split() == sorted(values)
        assert (MEASURE in measure_set.measures.split()) == (cluster_id == with_kpi.cluster.id)
