"""A determined insider against the disclosure rules (docs/disclosure.md), one attack per test, each with its
boundary fixed: what leaked before is withheld now, and the case one step on the safe side is still shown.

The measure attacked is a raw cluster-level KPI value (kpi:sector-financial-products), so every peer's secret
is a number the test chose; every peer rates every CSF 3, so the scores carry nothing.
"""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.audit import service as audit_service
from app.auth import service as auth_service
from app.benchmarks import logic
from app.clusters import service as cluster_service
from app.clusters.schemas import ClusterUpdate, CustomKpiCreate
from app.rounds import service as round_service
from app.rounds.schemas import KpiValueSet, RoundStatus
from tests import factories
from tests.integration.benchmarks.world import (
    KPI,
    Peer,
    bearer,
    figures,
    four_peers,
    kpi_row,
    peer,
    revise,
)

# --- quartiles of small groups ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secrets", "shown"),
    [
        # Three peers: the median is the middle peer's value, the outer quartiles are midpoints.
        ((10.0, 40.0, 70.0), (25.0, None, 55.0)),
        # Four: every quartile between two peers.
        ((10.0, 20.0, 30.0, 40.0), (17.5, 25.0, 32.5)),
        # Five: every quartile is a peer's own value; nothing but the count.
        ((10.0, 20.0, 30.0, 40.0, 50.0), (None, None, None)),
    ],
)
def test_quartiles_of_a_small_group_never_give_a_value(
    app: FastAPI, client: TestClient, session: Session, secrets: tuple[float, ...], shown: tuple[float | None, ...]
) -> None:
    programme = factories.programme(session)
    viewer = peer(session, programme, 0.0)
    peers = [peer(session, programme, s) for s in secrets]
    facilitator = bearer(app, session, ("facilitator", viewer.cluster))
    session.commit()
    row = kpi_row(facilitator, viewer.cluster)
    peers_row = row["peers"]
    assert peers_row["n"] == len(peers)
    assert (peers_row["q1"], peers_row["median"], peers_row["q3"]) == shown
    assert not set(figures(row)) & set(secrets)
    assert "percentile_rank" not in peers_row


# --- differencing over time ---------------------------------------------------------------------------


def test_a_cluster_closing_late_is_not_given_away(app: FastAPI, client: TestClient, session: Session) -> None:
    """Four peers shown, then a fifth closes its round in the same period: "four" against "five" would give
    the fifth's value. Withheld from whoever saw the four; a viewer who never did sees the five. The boundary:
    one or two clusters more are withheld, three more (min_group) are shown."""
    scene = four_peers(app, session)
    programme, viewer, attacker = scene.programme, scene.viewer, scene.attacker
    assert kpi_row(attacker, viewer.cluster)["peers"]["n"] == 4

    peer(session, programme, 4242.0)
    newcomer = bearer(app, session, ("facilitator", viewer.cluster))
    session.commit()
    late = kpi_row(attacker, viewer.cluster)
    assert late["peers"] is None and "changed" in late["withheld"]
    assert kpi_row(newcomer, viewer.cluster)["peers"]["n"] == 5  # never saw the four

    for s in (50.0, 60.0):
        peer(session, programme, s)
    session.commit()
    assert kpi_row(attacker, viewer.cluster)["peers"]["n"] == 7  # three apart from the four it saw
    assert kpi_row(newcomer, viewer.cluster)["peers"] is None  # two apart from the five it saw


def test_a_reopened_and_revised_round_is_not_given_away(app: FastAPI, client: TestClient, session: Session) -> None:
    """Reopening takes the peer out (a group of one fewer) and closing it with another figure puts a revised
    peer back: either comparison isolates that peer. Both are withheld from the viewer who saw the group."""
    scene = four_peers(app, session)
    programme, viewer, peers, attacker = scene.programme, scene.viewer, scene.peers, scene.attacker
    before = kpi_row(attacker, viewer.cluster)
    assert before["peers"]["n"] == 4

    round_service.set_status(session, peers[0].round, RoundStatus.open, actor="test")
    session.commit()
    assert kpi_row(attacker, viewer.cluster)["peers"] is None

    round_service.set_kpi_value(session, peers[0].round, KPI, KpiValueSet(value=35.0), actor="test")
    round_service.set_status(session, peers[0].round, RoundStatus.closed, actor="test")
    session.commit()
    revised = kpi_row(attacker, viewer.cluster)
    assert revised["peers"] is None and "changed" in revised["withheld"]
    fresh = bearer(app, session, ("facilitator", viewer.cluster))
    session.commit()
    assert kpi_row(fresh, viewer.cluster)["peers"]["median"] == pytest.approx(32.5)  # 20, 30, 35, 40
    # The revision is shown to the programme's agency, and on record.
    agency = bearer(app, session, ("agency", programme))
    session.commit()
    heat = agency.get("/api/v1/benchmarks/heatmap?template=thai-food-cluster").json()
    assert {r["cluster_id"]: r["revision"] for r in heat["rows"]}[peers[0].cluster.id] == 2
    assert "revised after closing" in agency.get("/benchmarks?template=thai-food-cluster").text
    statuses = [e.after for e in audit_service.history(session, entity="round", entity_id=peers[0].round.id or 0)]
    assert statuses[-2:] == [{"status": "open"}, {"status": "closed"}]


def test_the_same_group_stays_visible(app: FastAPI, client: TestClient, session: Session) -> None:
    """Nothing changed, nothing withheld: the history never hides a group from the viewer who saw it."""
    scene = four_peers(app, session)
    viewer, attacker = scene.viewer, scene.attacker
    first, again = kpi_row(attacker, viewer.cluster), kpi_row(attacker, viewer.cluster)
    assert first == again and first["peers"]["n"] == 4


def test_a_cluster_that_stops_sharing_is_not_given_away(app: FastAPI, client: TestClient, session: Session) -> None:
    programme = factories.programme(session)
    viewer = peer(session, programme, 0.0)
    peers = [peer(session, programme, s) for s in (10.0, 20.0, 30.0, 40.0, 50.0, 60.0)]
    attacker = bearer(app, session, ("facilitator", viewer.cluster))
    session.commit()
    assert kpi_row(attacker, viewer.cluster)["peers"]["n"] == 6
    cluster_service.update_cluster(session, peers[2].cluster, ClusterUpdate(shares_benchmarks=False), actor="test")
    session.commit()
    assert kpi_row(attacker, viewer.cluster)["peers"] is None


# --- attribute moves ----------------------------------------------------------------------------------


def test_a_facilitator_cannot_move_their_cluster(app: FastAPI, client: TestClient, session: Session) -> None:
    programme = factories.programme(session)
    viewer = peer(session, programme, 0.0, region="Bangkok")
    facilitator = bearer(app, session, ("facilitator", viewer.cluster))
    agency = bearer(app, session, ("agency", programme))
    session.commit()
    for field, value in (("sector", "Seafood"), ("country", "VN"), ("region", "Hanoi"), ("stage", "mature")):
        refused = facilitator.patch(f"/api/v1/clusters/{viewer.cluster.id}", json={field: value})
        assert refused.status_code == 403, field
    assert facilitator.get(f"/api/v1/clusters/{viewer.cluster.id}").json()["region"] == "Bangkok"
    # The name and sharing stay the facilitator's.
    assert facilitator.patch(f"/api/v1/clusters/{viewer.cluster.id}", json={"name": "Renamed"}).status_code == 200
    moved = agency.patch(f"/api/v1/clusters/{viewer.cluster.id}", json={"region": "Hanoi"})
    assert moved.status_code == 200 and moved.json()["region"] == "Hanoi"
    session.expire_all()
    events = audit_service.history(session, entity="cluster", entity_id=viewer.cluster.id or 0)
    moves = [(e.actor, e.before, e.after) for e in events if e.action == "benchmark_attributes"]
    assert (
        len(moves) == 1
        and moves[0][0].startswith("user:")
        and moves[0][1:] == ({"region": "Bangkok"}, {"region": "Hanoi"})
    )


def test_a_closed_period_keeps_its_attributes(app: FastAPI, client: TestClient, session: Session) -> None:
    """The agency moving clusters afterwards changes no group of a closed period: first the viewer's own
    cluster (its group is still 'Bangkok'), then a peer (still counted in Bangkok)."""
    programme = factories.programme(session)
    viewer = peer(session, programme, 0.0, region="Bangkok")
    bangkok = [peer(session, programme, s, region="Bangkok") for s in (10.0, 20.0, 30.0, 40.0)]
    for s in (11.0, 21.0, 31.0):
        peer(session, programme, s, region="Hanoi")
    attacker = bearer(app, session, ("facilitator", viewer.cluster))
    session.commit()
    seen = kpi_row(attacker, viewer.cluster, "region")
    assert seen["peers"]["n"] == 4

    cluster_service.update_cluster(session, viewer.cluster, ClusterUpdate(region="Hanoi"), actor="agency")
    cluster_service.update_cluster(session, bangkok[0].cluster, ClusterUpdate(region="Hanoi"), actor="agency")
    session.commit()
    after = kpi_row(attacker, viewer.cluster, "region")
    assert after == seen
    body = attacker.get(f"/api/v1/benchmarks/clusters/{viewer.cluster.id}").json()
    assert body["attributes"]["region"] == "Bangkok"


# --- rank probing -------------------------------------------------------------------------------------


def test_probing_with_ones_own_value_finds_nothing(app: FastAPI, client: TestClient, session: Session) -> None:
    """Closed figures cannot be changed; reopening to change them moves only a band whose edges are the
    quartiles shown anyway. 67 probes used to recover a group of four: here every band read is the band the
    released quartiles already imply."""
    scene = four_peers(app, session)
    viewer, attacker = scene.viewer, scene.attacker
    refused = attacker.put(f"/api/v1/rounds/{viewer.round.id}/kpi-values/{KPI}", json={"value": 15.0})
    assert refused.status_code == 409
    assert attacker.get(f"/api/v1/rounds/{viewer.round.id}/kpi-values").json()[0]["value"] == 0.0

    released = kpi_row(attacker, viewer.cluster)["peers"]
    quartiles = (released["q1"], released["median"], released["q3"])
    for probe in (5.0, 10.0, 12.0, 17.0, 18.0, 20.0, 25.0, 29.0, 30.0, 32.0, 33.0, 40.0, 45.0):
        revise(session, Peer(viewer.cluster, viewer.round), probe)
        session.commit()
        row = kpi_row(attacker, viewer.cluster)
        assert row["own"] == probe
        assert row["peers"]["band"] == logic.rank_band(probe, quartiles), probe
        assert (row["peers"]["q1"], row["peers"]["median"], row["peers"]["q3"]) == quartiles


# --- the member-link pivot ----------------------------------------------------------------------------


def test_a_facilitator_through_their_own_member_link(app: FastAPI, client: TestClient, session: Session) -> None:
    """A facilitator of three clusters opens a member link of one of them: as that member the peer group must
    not hold their two others, or with those known the third peer's value follows (it was 4242)."""
    programme = factories.programme(session)
    mine = [peer(session, programme, s) for s in (100.0, 200.0, 300.0)]
    stranger = peer(session, programme, 4242.0)
    facilitator = factories.user(session, grants=tuple(("facilitator", p.cluster) for p in mine))
    token = factories.api_token(session, facilitator)
    member = factories.participant(session, mine[0].cluster)
    link = auth_service.issue_member_link(session, member.id or 0)
    session.commit()
    as_member = TestClient(app)
    assert as_member.get(f"/m/{link}", follow_redirects=False).status_code == 303
    row = kpi_row(as_member, mine[0].cluster)
    assert row["peers"] is None  # one peer left (the stranger): fewer than three
    assert "4242" not in str(row)
    # With three strangers the member sees them, and only them.
    others = [stranger.cluster] + [peer(session, programme, s).cluster for s in (5000.0, 6000.0)]
    session.commit()
    assert kpi_row(as_member, mine[0].cluster)["peers"]["n"] == len(others)
    as_staff = TestClient(app)
    as_staff.headers["Authorization"] = f"Bearer {token}"
    assert kpi_row(as_staff, mine[0].cluster)["peers"]["n"] == len(others)


def test_differencing_across_ones_own_sessions(app: FastAPI, client: TestClient, session: Session) -> None:
    """A member session of C excludes what the agency of C's programme sees; the facilitator's own session
    does not. "Everyone but C" against "everyone but C's programme" would isolate the programme's other
    cluster, Y. Whichever the facilitator asks for first is shown; the other is withheld."""
    programme, elsewhere = factories.programme(session), factories.programme(session)
    viewed = peer(session, programme, 0.0)
    peer(session, programme, 4242.0)  # Y
    for s in (10.0, 20.0, 30.0, 40.0):
        peer(session, elsewhere, s)
    factories.user(session, grants=(("agency", programme),))
    facilitator = bearer(app, session, ("facilitator", viewed.cluster))
    member = factories.participant(session, viewed.cluster)
    link = auth_service.issue_member_link(session, member.id or 0)
    session.commit()
    assert kpi_row(facilitator, viewed.cluster)["peers"]["n"] == 5
    as_member = TestClient(app)
    assert as_member.get(f"/m/{link}", follow_redirects=False).status_code == 303
    row = kpi_row(as_member, viewed.cluster)
    assert row["peers"] is None and "changed" in row["withheld"]


# --- the observatory ----------------------------------------------------------------------------------


def test_the_observatory_counts_only_sharing_clusters(app: FastAPI, client: TestClient, session: Session) -> None:
    programme = factories.programme(session)
    sharing = [factories.cluster(session, in_programme=programme, shares_benchmarks=True) for _ in range(2)]
    private = factories.cluster(session, in_programme=programme, shares_benchmarks=False)
    for i, c in enumerate([*sharing, private]):
        cluster_service.add_custom_kpi(
            session,
            c,
            CustomKpiCreate(key=f"missions-{i}", csf_key="accessibility", title="Joint export missions"),
            actor="test",
        )
    agency = bearer(app, session, ("agency", programme))
    admin = factories.user(session, is_admin=True)
    as_admin = TestClient(app)
    as_admin.headers["Authorization"] = f"Bearer {factories.api_token(session, admin)}"
    session.commit()
    private_kpi = cluster_service.kpi_rows(session, private)["missions-2"].id
    for viewer in (agency, as_admin):
        body = viewer.get("/api/v1/benchmarks/observatory?template=thai-food-cluster").json()
        (csf,) = body["csfs"]
        assert csf["clusters"] == 2 and csf["indicators"] == 2
        assert csf["groups"][0]["clusters"] == 2
        assert private.name not in str(body)
        assert private.name not in viewer.get("/benchmarks/observatory?template=thai-food-cluster").text
        promote = viewer.get(
            "/benchmarks/observatory/promote.yaml", params={"template": "thai-food-cluster", "kpi": [private_kpi]}
        )
        assert promote.status_code == 404
