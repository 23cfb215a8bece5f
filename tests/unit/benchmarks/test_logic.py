"""Pure benchmark rules: alignment, peer statistics, disclosure control (property-tested), similarity."""

from datetime import date
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.benchmarks import logic
from app.scorecards.schema import SLUG_PATTERN


def test_period_is_the_half_year_in_which_the_round_ends() -> None:
    assert logic.period_of(date(2025, 1, 1), date(2025, 6, 30), date(2024, 12, 1)) == "2025-H1"
    assert logic.period_of(date(2025, 1, 1), date(2025, 12, 31), date(2025, 1, 1)) == "2025-H2"  # annual round
    assert logic.period_of(date(2025, 5, 1), None, date(2025, 1, 1)) == "2025-H1"  # start only
    assert logic.period_of(None, None, date(2026, 7, 2)) == "2026-H2"  # no dates: when it was created


def test_the_latest_round_of_a_period_counts() -> None:
    rounds = [
        (1, "2025-H1", date(2025, 3, 31), 1),  # Q1
        (2, "2025-H1", date(2025, 6, 30), 2),  # Q2: ends later, counts
        (3, "2025-H2", date(2025, 12, 31), 3),
        (4, "2025-H2", date(2025, 12, 31), 4),  # same end, created later
    ]
    assert logic.latest_round_per_period(rounds) == {"2025-H1": 2, "2025-H2": 4}


def test_peer_stats_by_hand() -> None:
    stats = logic.peer_stats([10.0, 20.0, 30.0, 40.0], own=25.0)
    assert stats is not None
    # Inclusive quartiles of 10, 20, 30, 40: positions 0.75, 1.5, 2.25 of the sorted list.
    assert (stats.q1, stats.median, stats.q3) == (17.5, 25.0, 32.5)
    assert stats.n == 4
    assert stats.percentile_rank == 50.0  # two of four below
    assert logic.peer_stats([], own=1.0) is None
    assert logic.peer_stats([5.0, 5.0, 5.0], own=None) == logic.PeerStats(3, 5.0, 5.0, 5.0, None)


def _peer(cid: int, **attributes: str | None) -> logic.Peer:
    return logic.Peer(cid, {d: attributes.get(d) for d in logic.DIMENSIONS})


def test_a_group_one_cluster_smaller_than_another_is_withheld_with_it() -> None:
    """The differencing attack: 'all food clusters' (4) against 'food clusters in TH' (3) would isolate
    the one cluster abroad. Neither may be shown; a group of the same members as another may."""
    viewer = _peer(0, sector="food", country="TH", stage="growing")
    peers = [
        _peer(1, sector="food", country="TH", stage="growing"),
        _peer(2, sector="food", country="TH", stage="mature"),
        _peer(3, sector="food", country="TH", stage="growing"),
        _peer(4, sector="food", country="VN", stage="growing"),
    ]
    family = {(0, s): logic.group_members(peers, viewer, s, {0}) for s in logic.all_dimension_sets()}
    released = logic.releasable(family, 3)
    everyone, in_thailand = (0, frozenset()), (0, frozenset({"country"}))
    assert len(family[everyone]) == 4 and len(family[in_thailand]) == 3
    assert everyone not in released and in_thailand not in released
    # "same sector" is the same four clusters as "everyone": no difference to exploit, same verdict.
    assert family[(0, frozenset({"sector"}))] == family[everyone]


def test_groups_that_differ_by_at_least_min_group_are_both_shown() -> None:
    viewer = _peer(0, sector="food", country="TH")
    peers = [_peer(i, sector="food", country="TH") for i in range(1, 4)] + [
        _peer(i, sector="food", country="VN") for i in range(4, 7)
    ]
    family = {(0, s): logic.group_members(peers, viewer, s, {0}) for s in logic.all_dimension_sets()}
    released = logic.releasable(family, 3)
    assert (0, frozenset()) in released  # six clusters
    assert (0, frozenset({"country"})) in released  # three, differing from the six by three


def test_a_dimension_the_cluster_has_no_value_for_matches_nothing() -> None:
    viewer = _peer(0, sector="food", stage=None)
    peers = [_peer(1, sector="food", stage=None), _peer(2, sector="food", stage=None)]
    assert logic.group_members(peers, viewer, {"stage"}, {0}) == frozenset()


values = st.sampled_from(["a", "b", None])


@st.composite
def populations(draw: st.DrawFn) -> tuple[list[logic.Peer], set[int], int]:
    n = draw(st.integers(min_value=0, max_value=14))
    peers = [logic.Peer(i, {d: draw(values) for d in logic.DIMENSIONS}) for i in range(n)]
    own = set(draw(st.sets(st.integers(min_value=0, max_value=max(n - 1, 0)), min_size=1, max_size=3))) if n else {0}
    if not n:
        peers = [logic.Peer(0, {d: "a" for d in logic.DIMENSIONS})]
    k = draw(st.integers(min_value=3, max_value=5))
    return peers, own, k


@settings(max_examples=300, deadline=None)
@given(populations())
def test_no_released_group_can_be_differenced_down_to_fewer_than_min_group(
    population: tuple[list[logic.Peer], set[int], int],
) -> None:
    """Over every combination of filters around every one of the viewer's clusters: each group shown
    has at least k clusters, none of them the viewer's own, and any two groups shown are either the
    same clusters or differ by at least k, so no subtraction of one aggregate from another isolates
    fewer than k clusters (and in particular never a single one)."""
    peers, own, k = population
    by_id = {p.cluster_id: p for p in peers}
    family = {
        (o, s): logic.group_members(peers, by_id[o], s, own)
        for o in own
        if o in by_id
        for s in logic.all_dimension_sets()
    }
    index = logic.PeerIndex(peers)  # the service's fast path gives the same groups
    assert all(index.group(by_id[o], s, own) == members for (o, s), members in family.items())
    released = logic.releasable(family, k)
    shown = [family[key] for key in released]
    for members in shown:
        assert len(members) >= k
        assert not members & own
    for a, b in combinations(shown, 2):
        assert a == b or len(a ^ b) >= k
    # Nothing safe is withheld without cause: a group of adequate size is withheld only because some
    # other adequate group sits within k - 1 clusters of it.
    for key, members in family.items():
        if len(members) >= k and key not in released:
            assert any(0 < len(members ^ other) < k for other in family.values() if len(other) >= k)


def test_similar_wordings_group_together() -> None:
    texts = [
        "Number of joint export missions",
        "Joint export missions organised",
        "Food safety training sessions held",
        "Food safety trainings held",
        "Price agreements with cassava growers",
    ]
    assert logic.group_similar(texts) == [[0, 1], [2, 3], [4]]
    assert logic.tokens("The Joint Export-Missions") == frozenset({"joint", "export", "mission"})
    assert logic.jaccard(frozenset({"a", "b"}), frozenset({"b", "c"})) == pytest.approx(1 / 3)


def test_slug_and_next_version() -> None:
    import re

    assert logic.slug("Joint export missions (member firms)", set()) == "joint-export-missions-member-firms"
    assert logic.slug("Ça va", {"ca-va"}) == "ca-va-2"
    assert re.match(SLUG_PATTERN, logic.slug("!!!", set()))
    assert logic.next_version("1") == "2"
    assert logic.next_version("2024.9") == "2024.10"
    assert logic.next_version("beta") == "beta.1"
