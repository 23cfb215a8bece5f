"""Properties the scoring engine must keep for any input, not only the hand-picked ones."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from app.scorecards.values import MAX_MAGNITUDE
from app.scoring.logic import (
    CsfInput,
    KpiInput,
    PerspectiveInput,
    RoundScores,
    Score,
    ScoringRules,
    achievement,
    aggregate,
    displayed,
    perception,
    quartiles,
    score_round,
    status,
)

any_float = st.floats(allow_nan=True, allow_infinity=True)
finite = st.floats(allow_nan=False, allow_infinity=False)
optional_float = st.none() | any_float
directions = st.sampled_from(["increase", "decrease"])
weights = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0]) | st.floats(min_value=0, max_value=1e6)


@st.composite
def scales(draw: st.DrawFn) -> ScoringRules:
    scale_min = draw(st.integers(min_value=-5, max_value=5))
    width = draw(st.integers(min_value=1, max_value=10))
    amber = draw(st.floats(min_value=0, max_value=100))
    green = draw(st.floats(min_value=amber, max_value=100))
    return ScoringRules(
        scale_min=scale_min,
        scale_max=scale_min + width,
        green=green,
        amber=amber,
        kpi_weight=draw(weights),
        perception_weight=draw(weights),
    )


@st.composite
def rules_and_ratings(draw: st.DrawFn) -> tuple[ScoringRules, tuple[int, ...]]:
    rules = draw(scales())
    point = st.integers(min_value=rules.scale_min, max_value=rules.scale_max)
    return rules, tuple(draw(st.lists(point, max_size=40)))


def _in_range(x: float | None) -> bool:
    return x is None or 0.0 <= x <= 100.0


# --- achievement ------------------------------------------------------------------


@settings(deadline=None)
@given(optional_float, optional_float, optional_float, directions)
def test_achievement_is_a_percentage_or_not_scored(
    value: float | None, baseline: float | None, target: float | None, direction: str
) -> None:
    a = achievement(value, baseline, target, direction)  # type: ignore[arg-type]
    assert _in_range(a)


@settings(deadline=None)
@given(finite, finite, finite, finite)
def test_achievement_rises_with_value_for_increase(v1: float, v2: float, b: float, t: float) -> None:
    low, high = sorted((v1, v2))
    a_low = achievement(low, b, t, "increase")
    a_high = achievement(high, b, t, "increase")
    assert (a_low is None) == (a_high is None)
    if a_low is not None and a_high is not None:
        assert a_low <= a_high


@settings(deadline=None)
@given(finite, finite, finite, finite)
def test_achievement_falls_with_value_for_decrease(v1: float, v2: float, b: float, t: float) -> None:
    low, high = sorted((v1, v2))
    a_low = achievement(low, b, t, "decrease")
    a_high = achievement(high, b, t, "decrease")
    assert (a_low is None) == (a_high is None)
    if a_low is not None and a_high is not None:
        assert a_low >= a_high


@settings(deadline=None)
@given(optional_float, optional_float, optional_float, directions)
def test_mirroring_the_axis_swaps_the_direction(
    value: float | None, baseline: float | None, target: float | None, direction: str
) -> None:
    def neg(x: float | None) -> float | None:
        return None if x is None else -x

    other = "decrease" if direction == "increase" else "increase"
    assert achievement(value, baseline, target, direction) == achievement(  # type: ignore[arg-type]
        neg(value),
        neg(baseline),
        neg(target),
        other,  # type: ignore[arg-type]
    )


# --- perception -------------------------------------------------------------------


@settings(deadline=None)
@given(rules_and_ratings())
def test_perception_stays_on_its_scales(case: tuple[ScoringRules, tuple[int, ...]]) -> None:
    rules, ratings = case
    p = perception(ratings, rules)
    assert p.n == len(ratings)
    assert sum(p.distribution.values()) == p.n
    assert list(p.distribution) == list(range(rules.scale_min, rules.scale_max + 1))
    assert _in_range(p.score)
    if ratings:
        assert p.score is not None and p.spread is not None and p.disagreement is not None
        assert p.mean is not None and rules.scale_min <= p.mean <= rules.scale_max
        assert 0.0 <= p.spread <= 50.0 + 1e-9  # a standard deviation is at most half the range
        assert 0.0 <= p.disagreement <= 1.0
    else:
        assert p.score is None and p.disagreement is None and not p.contested
    if p.contested:
        assert p.n >= 3


@settings(deadline=None)
@given(rules_and_ratings())
def test_a_top_rating_never_lowers_perception(case: tuple[ScoringRules, tuple[int, ...]]) -> None:
    rules, ratings = case
    before = perception(ratings, rules).score
    after = perception((*ratings, rules.scale_max), rules).score
    assert after is not None
    assert before is None or after >= before


@settings(deadline=None)
@given(rules_and_ratings())
def test_disagreement_ignores_the_order_of_ratings(case: tuple[ScoringRules, tuple[int, ...]]) -> None:
    rules, ratings = case
    assert perception(ratings, rules) == perception(tuple(reversed(ratings)), rules)


# --- aggregates -------------------------------------------------------------------


@settings(deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.0]) | any_float, max_size=50))
def test_share_yes_is_a_percentage(values: list[float]) -> None:
    share = aggregate("share_yes", values)
    assert _in_range(share)
    count = aggregate("count_yes", values)
    finite_answers = [v for v in values if math.isfinite(v)]
    if finite_answers:
        assert share is not None and count is not None
        assert math.isclose(share, 100.0 * count / len(finite_answers))
    else:
        assert share is None and count is None


@settings(deadline=None)
@given(st.sampled_from(["mean", "median"]), st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=50))
def test_central_aggregates_stay_within_the_answers(method: str, values: list[float]) -> None:
    centre = aggregate(method, values)  # type: ignore[arg-type]
    assert centre is not None
    assert min(values) - 1e-6 <= centre <= max(values) + 1e-6


@settings(deadline=None)
@given(st.sampled_from(["count_yes", "share_yes", "sum", "mean", "median"]), st.lists(finite, max_size=50))
def test_an_aggregate_of_any_finite_answers_is_finite_or_no_value(method: str, values: list[float]) -> None:
    result = aggregate(method, values)  # type: ignore[arg-type]
    assert result is None or math.isfinite(result)
    if method in ("mean", "median") and values:
        assert result is not None and min(values) <= result <= max(values)


# Extreme but valid: what the KPI types allow (app.scorecards.values), at and near their limits.
extreme = st.sampled_from([0.0, 1e-9, 0.5, 99.99, 100.0, 1e12, MAX_MAGNITUDE, -MAX_MAGNITUDE]) | st.floats(
    -MAX_MAGNITUDE, MAX_MAGNITUDE
)


@settings(deadline=None)
@given(st.lists(extreme, min_size=1, max_size=200))
def test_a_sum_of_answers_within_their_range_is_always_a_value(values: list[float]) -> None:
    total = aggregate("sum", values)
    assert total is not None and abs(total) <= len(values) * MAX_MAGNITUDE


@settings(deadline=None)
@given(st.lists(extreme, min_size=1, max_size=50), extreme, extreme, directions)
def test_extreme_values_score_as_percentages(
    answers: list[float], baseline: float, target: float, direction: str
) -> None:
    rules = ScoringRules()
    kpis = [
        KpiInput(f"k-{method}", "c", direction, baseline, target, aggregate(method, answers), answers=len(answers))  # type: ignore[arg-type]
        for method in ("sum", "mean", "median")
    ]
    r = score_round([PerspectiveInput("p")], [CsfInput("c", "p", ratings=(1, 5))], kpis, rules)
    for s in _all_scores(r):
        assert _in_range(s.value)
    assert r.overall.value is not None


@settings(deadline=None)
@given(st.floats(0, 100), scales())
def test_a_displayed_score_has_the_status_of_the_score(score: float, rules: ScoringRules) -> None:
    shown, _places = displayed(score, green=rules.green, amber=rules.amber)
    assert status(float(shown), rules) == status(score, rules)
    assert abs(float(shown) - score) < 1


# --- whole rounds -----------------------------------------------------------------


@st.composite
def rounds(
    draw: st.DrawFn,
) -> tuple[ScoringRules, list[PerspectiveInput], list[CsfInput], list[KpiInput]]:
    rules = draw(scales())
    point = st.integers(min_value=rules.scale_min, max_value=rules.scale_max)
    perspectives = [PerspectiveInput(f"p{i}", weight=draw(weights)) for i in range(draw(st.integers(0, 4)))]
    csfs: list[CsfInput] = []
    kpis: list[KpiInput] = []
    for p in perspectives:
        for _ in range(draw(st.integers(0, 3))):
            csf = CsfInput(
                f"c{len(csfs)}",
                p.key,
                weight=draw(weights),
                ratings=tuple(draw(st.lists(point, max_size=8))),
            )
            csfs.append(csf)
            for _ in range(draw(st.integers(0, 3))):
                kpis.append(
                    KpiInput(
                        f"k{len(kpis)}",
                        csf.key,
                        draw(directions),  # type: ignore[arg-type]
                        baseline=draw(st.none() | st.floats(-1e6, 1e6)),
                        target=draw(st.none() | st.floats(-1e6, 1e6)),
                        value=draw(optional_float),
                        weight=draw(weights),
                        core=draw(st.booleans()),
                        answers=draw(st.integers(0, 30)),
                    )
                )
    return rules, perspectives, csfs, kpis


def _all_scores(r: RoundScores) -> list[Score]:
    return [
        r.overall,
        *(p.score for p in r.perspectives.values()),
        *(c.score for c in r.csfs.values()),
        *(k.score for k in r.kpis.values()),
    ]


@settings(deadline=None)
@given(rounds(), st.booleans())
def test_every_score_is_a_percentage_with_honest_coverage(
    case: tuple[ScoringRules, list[PerspectiveInput], list[CsfInput], list[KpiInput]], core_only: bool
) -> None:
    rules, perspectives, csfs, kpis = case
    r = score_round(perspectives, csfs, kpis, rules, core_only=core_only)
    for s in _all_scores(r):
        assert _in_range(s.value)
        assert (s.status is None) == (s.value is None)
        assert 0 <= s.scored <= s.of
        assert s.basis >= 0
        if s.value is None:
            assert s.basis == 0
    for c in r.csfs.values():
        assert _in_range(c.kpi_achievement)
    if core_only:
        assert all(k.core for k in r.kpis.values())
    assert r.overall.of == len(perspectives)
    disagreements = [c.perception.disagreement or 0.0 for c in r.contested_csfs()]
    assert disagreements == sorted(disagreements, reverse=True)


@settings(deadline=None)
@given(rounds())
def test_a_mean_lies_between_its_children(
    case: tuple[ScoringRules, list[PerspectiveInput], list[CsfInput], list[KpiInput]],
) -> None:
    rules, perspectives, csfs, kpis = case
    r = score_round(perspectives, csfs, kpis, rules)
    for p in perspectives:
        value = r.perspectives[p.key].score.value
        csf_values = [v for c in csfs if c.perspective_key == p.key and (v := r.csfs[c.key].score.value) is not None]
        if value is not None:
            assert min(csf_values) <= value <= max(csf_values)
    perspective_values = [v for s in r.perspectives.values() if (v := s.score.value) is not None]
    if r.overall.value is not None:
        assert min(perspective_values) <= r.overall.value <= max(perspective_values)


# --- benchmarks -------------------------------------------------------------------


@settings(deadline=None)
@given(st.lists(st.floats(-1e9, 1e9) | finite, max_size=30))
def test_quartiles_are_ordered_within_the_data(values: list[float]) -> None:
    q = quartiles(values)
    if not values:
        assert q is None
        return
    assert q is not None
    q1, q2, q3 = q
    assert min(values) - 1e-6 <= q1 <= q2 <= q3 <= max(values) + 1e-6
