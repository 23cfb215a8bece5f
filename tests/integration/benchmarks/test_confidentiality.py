"""No combination of filters shows a non-agency user anything about a single other cluster.

Every peer-group filter a facilitator, observer or member can send is tried (all 64 combinations of
"same programme/sector/country/region/typology/stage", around each cluster they hold) against a
population built to be easy to attack: many groups differ by exactly one cluster. For every answer
the test recomputes, from its own knowledge of the population, which clusters the aggregate covers,
and checks the rules: no names, no aggregate of fewer than min_group clusters, never the viewer's own
clusters among the peers, and no two aggregates the viewer can obtain whose groups differ by 1 to
min_group - 1 clusters (so subtracting one from the other never isolates a single peer).
"""

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth import service as auth_service
from app.benchmarks import logic
from app.clusters.models import Cluster
from tests import factories
from tests.integration.benchmarks.world import rated_cluster, refresh_rollups, score_of

MIN_GROUP = 3

# name: (programme, rating, sector, country, region, typology, stage, shares)
POPULATION: dict[str, tuple[str, int, str, str, str, str, str, bool]] = {
    "Viewer": ("P1", 3, "Food", "TH", "Bangkok", "hub_and_spoke", "growing", True),
    "Second": ("P1", 2, "Food", "TH", "Chiang Mai", "italianate", "growing", True),
    "Alpha": ("P1", 1, "Food", "TH", "Bangkok", "hub_and_spoke", "growing", True),
    "Bravo": ("P1", 2, "Food", "TH", "Bangkok", "italianate", "growing", True),
    "Charlie": ("P1", 4, "Food", "TH", "Chiang Mai", "italianate", "growing", True),
    "Delta": ("P1", 5, "Food", "TH", "Chiang Mai", "italianate", "growing", True),
    "Echo": ("P2", 4, "Food", "VN", "Hanoi", "hub_and_spoke", "growing", True),
    "Foxtrot": ("P1", 5, "Food", "TH", "Bangkok", "italianate", "growing", True),
    # The one seafood cluster: "everyone" and "same sector" differ by it alone.
    "Golf": ("P2", 1, "Seafood", "VN", "Hanoi", "hub_and_spoke", "growing", True),
    "Hotel": ("P2", 3, "Food", "VN", "Hanoi", "hub_and_spoke", "growing", True),
    "India": ("P2", 2, "Food", "VN", "Hanoi", "hub_and_spoke", "growing", True),
    "Juliet": ("P1", 4, "Food", "TH", "Bangkok", "hub_and_spoke", "growing", True),
    "Lima": ("P1", 3, "Food", "TH", "Bangkok", "italianate", "growing", True),
    "Mike": ("P1", 1, "Food", "TH", "Chiang Mai", "italianate", "growing", True),
    "November": ("P1", 5, "Food", "TH", "Bangkok", "hub_and_spoke", "growing", True),
    "Kilo": ("P1", 5, "Food", "TH", "Bangkok", "hub_and_spoke", "growing", False),  # does not share
}


@dataclass
class Built:
    clusters: dict[str, Cluster]
    clients: dict[str, TestClient]
    own: dict[str, set[str]]


@pytest.fixture
def built(app: FastAPI, client: TestClient, session: Session) -> Built:
    programmes = {"P1": factories.programme(session), "P2": factories.programme(session)}
    clusters = {}
    for name, (prog, rating, sector, country, region, typology, stage, shares) in POPULATION.items():
        clusters[name] = rated_cluster(
            session,
            programmes[prog],
            rating,
            shares=shares,
            name=f"Cluster {name}",
            sector=sector,
            country=country,
            region=region,
            typology=typology,
            stage=stage,
        )
    member = factories.participant(session, clusters["Viewer"])
    users = {
        "facilitator": factories.user(
            session, grants=(("facilitator", clusters["Viewer"]), ("facilitator", clusters["Second"]))
        ),
        "observer": factories.user(session, grants=(("observer", clusters["Viewer"]),)),
    }
    tokens = {role: factories.api_token(session, u) for role, u in users.items()}
    link = auth_service.issue_member_link(session, member.id or 0)
    refresh_rollups(session)
    session.commit()
    clients = {}
    for role, token in tokens.items():
        c = TestClient(app)
        c.headers["Authorization"] = f"Bearer {token}"
        clients[role] = c
    member_client = TestClient(app)
    assert member_client.get(f"/m/{link}", follow_redirects=False).status_code == 303
    clients["member"] = member_client
    # A member session of Viewer may be its facilitator's, who also holds Second: neither is a peer there.
    own = {"facilitator": {"Viewer", "Second"}, "observer": {"Viewer"}, "member": {"Viewer", "Second"}}
    return Built(clusters=clusters, clients=clients, own=own)


def _attribute(name: str, dimension: str) -> str:
    prog, _rating, sector, country, region, typology, stage, _shares = POPULATION[name]
    return {
        "programme": prog,
        "sector": sector,
        "country": country,
        "region": region,
        "typology": typology,
        "stage": stage,
    }[dimension]


def _expected_group(around: str, dims: frozenset[str], own: set[str]) -> frozenset[str]:
    return frozenset(
        name
        for name, spec in POPULATION.items()
        if spec[7] and name not in own and all(_attribute(name, d) == _attribute(around, d) for d in dims)
    )


def test_every_filter_combination_is_safe(built: Built) -> None:
    for role in ("facilitator", "observer", "member"):
        _check_every_combination(built, role)


def _check_every_combination(built: Built, role: str) -> None:
    client = built.clients[role]
    own = built.own[role]
    others = [n for n in POPULATION if n not in own]
    released: dict[tuple[str, frozenset[str]], frozenset[str]] = {}
    withheld_for_differencing = 0
    for around in sorted(own) if role == "facilitator" else ["Viewer"]:  # what each session can open
        cluster_id = built.clusters[around].id
        for dims in logic.all_dimension_sets():
            response = client.get(f"/api/v1/benchmarks/clusters/{cluster_id}", params={"same": sorted(dims)})
            assert response.status_code == 200, response.text
            for name in others:
                assert f"Cluster {name}" not in response.text
            body: dict[str, Any] = response.json()
            assert body["mode"] == "aggregate"
            expected = _expected_group(around, dims, own)
            overall = next(m for m in body["measures"] if m["measure"]["key"] == "overall")
            for measure in body["measures"]:
                peers = measure["peers"]
                if peers is None:
                    withheld_for_differencing += "differs" in (measure["withheld"] or "")
                    continue
                assert peers["n"] >= MIN_GROUP
                assert peers["n"] == len(expected)
            if overall["peers"] is not None:
                released[(around, dims)] = expected
                values = sorted(score_of(POPULATION[n][1]) for n in expected)
                stats = logic.peer_stats(values, score_of(POPULATION[around][1]))
                assert stats is not None
                for name, expected_q in zip(("q1", "median", "q3"), (stats.q1, stats.median, stats.q3), strict=True):
                    shown = overall["peers"][name]
                    assert shown == (None if expected_q is None else pytest.approx(expected_q))
                    assert shown not in values  # never one peer's own figure
                assert overall["peers"]["band"] == stats.band
    assert released, "the population should let some groups through, or this test proves little"
    assert withheld_for_differencing, "the population should trip the differencing rule somewhere"
    for (key_a, a), (key_b, b) in combinations(released.items(), 2):
        assert a == b or len(a ^ b) >= MIN_GROUP, (key_a, key_b)


def test_the_obvious_attack_is_refused(built: Built) -> None:
    """ "Everyone" (13 peers) against "same sector" (12): subtracting one aggregate from the other would
    isolate Golf, the only seafood cluster. Both are refused; "same country" (9) is shown."""
    client = built.clients["member"]
    url = f"/api/v1/benchmarks/clusters/{built.clusters['Viewer'].id}"

    def overall(*dims: str) -> Any:
        body = client.get(url, params={"same": list(dims)}).json()
        return next(m for m in body["measures"] if m["measure"]["key"] == "overall")

    everyone, same_sector, same_country = overall(), overall("sector"), overall("country")
    assert everyone["peers"] is None and "differs" in everyone["withheld"]
    assert same_sector["peers"] is None and "differs" in same_sector["withheld"]
    assert same_country["peers"]["n"] == 9


def test_agency_views_and_filters_are_closed_to_others(built: Built) -> None:
    for role in ("facilitator", "observer", "member"):
        _check_closed(built, role)


def _check_closed(built: Built, role: str) -> None:
    client = built.clients[role]
    for path in (
        "/api/v1/benchmarks/heatmap?template=thai-food-cluster",
        "/api/v1/benchmarks/distribution?template=thai-food-cluster",
        "/api/v1/benchmarks/observatory",
        "/benchmarks",
        "/benchmarks/heatmap.csv?template=thai-food-cluster",
    ):
        assert client.get(path).status_code in (403, 404), path
    # Agency filters sent to the profile are ignored: the group is still "same as mine" only.
    url = f"/api/v1/benchmarks/clusters/{built.clusters['Viewer'].id}"
    plain = client.get(url).json()
    probing = client.get(url, params={"region": "Hanoi", "typology": "satellite", "programme": "1"}).json()
    assert probing == plain


def test_exports_carry_the_same_protection(built: Built) -> None:
    client = built.clients["member"]
    base = f"/benchmarks/clusters/{built.clusters['Viewer'].id}"
    for dims in logic.all_dimension_sets():
        params = {"same": sorted(dims)}
        # The page for a sample of combinations (it renders the same service result), every CSV.
        for suffix in ("/profile.csv", "") if len(dims) in (0, 1, 6) else ("/profile.csv",):
            text = client.get(base + suffix, params=params).text
            for name in POPULATION:
                if name != "Viewer":
                    assert f"Cluster {name}" not in text


def test_a_cluster_that_does_not_share_sees_no_peers(app: FastAPI, client: TestClient, session: Session) -> None:
    programme = factories.programme(session)
    for rating in (1, 2, 3, 4):
        rated_cluster(session, programme, rating)
    loner = rated_cluster(session, programme, 3, shares=False)
    facilitator = factories.user(session, grants=(("facilitator", loner),))
    token = factories.api_token(session, facilitator)
    session.commit()
    body = client.get(f"/api/v1/benchmarks/clusters/{loner.id}", headers={"Authorization": f"Bearer {token}"}).json()
    assert all(m["peers"] is None for m in body["measures"])
    assert body["shares_benchmarks"] is False
