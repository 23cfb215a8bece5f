"""The scoring engine against numbers computed by hand in the comments."""

import math

import pytest

from app.scoring.logic import (
    DISAGREEMENT_THRESHOLD,
    CsfInput,
    KpiInput,
    PerspectiveInput,
    ScoringRules,
    achievement,
    aggregate,
    displayed,
    perception,
    quartiles,
    score_round,
    status,
)

RULES = ScoringRules()


# --- aggregate --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "values", "expected"),
    [
        ("count_yes", [1.0, 0.0, 1.0, 1.0], 3.0),
        ("share_yes", [1.0, 0.0, 1.0, 1.0], 75.0),  # 3 of 4
        ("share_yes", [0.0, 0.0], 0.0),
        ("sum", [2.0, 3.5, 4.0], 9.5),
        ("mean", [2.0, 4.0, 9.0], 5.0),  # 15 / 3
        ("median", [5.0, 1.0, 3.0, 2.0], 2.5),  # (2 + 3) / 2
        ("median", [5.0, 1.0, 3.0], 3.0),
    ],
)
def test_aggregate_hand_computed(method: str, values: list[float], expected: float) -> None:
    assert aggregate(method, values) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["count_yes", "share_yes", "sum", "mean", "median"])
def test_aggregate_of_no_answers_is_no_data_not_zero(method: str) -> None:
    assert aggregate(method, []) is None  # type: ignore[arg-type]
    assert aggregate(method, [math.nan, math.inf]) is None  # type: ignore[arg-type]


def test_aggregate_ignores_non_finite_answers() -> None:
    assert aggregate("mean", [2.0, math.nan, 4.0, -math.inf]) == 3.0
    assert aggregate("share_yes", [1.0, math.nan]) == 100.0


def test_aggregates_of_huge_answers_never_fail() -> None:
    # Two answers of 1e308 to a summed count made fsum overflow, and every page showing the round failed.
    assert aggregate("sum", [1e308, 1e308]) is None  # beyond the largest float: not a value
    assert aggregate("sum", [1e308, -1e308, 5.0]) == 5.0
    assert aggregate("mean", [1e308, 1e308]) == 1e308
    assert aggregate("median", [1.5e308, 1.7e308]) == 1.6e308
    assert aggregate("median", [1.0, 2.0, 4.0, 8.0]) == 3.0


def test_quartiles_of_huge_values_stay_finite() -> None:
    assert quartiles([1e308, 1.2e308, 1.4e308]) == (1.1e308, 1.2e308, 1.3e308)


def test_aggregate_rejects_unknown_method() -> None:
    with pytest.raises(ValueError):
        aggregate("max", [1.0])  # type: ignore[arg-type]


# --- achievement ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "baseline", "target", "direction", "expected"),
    [
        (15, 10, 20, "increase", 50.0),  # 100 * 5 / 10
        (12, 20, 10, "decrease", 80.0),  # 100 * (12 - 20) / (10 - 20) = 100 * -8 / -10
        (10, 10, 20, "increase", 0.0),  # still at baseline
        (20, 10, 20, "increase", 100.0),  # target reached
        (25, 10, 20, "increase", 100.0),  # beyond target, clamped
        (5, 10, 20, "increase", 0.0),  # fell below baseline, clamped
        (22, 20, 10, "decrease", 0.0),  # rose although it should fall
        (4, 20, 10, "decrease", 100.0),  # fell beyond target
        (-5, 0, -20, "decrease", 25.0),  # 100 * -5 / -20
    ],
)
def test_achievement_hand_computed(
    value: float, baseline: float, target: float, direction: str, expected: float
) -> None:
    assert achievement(value, baseline, target, direction) == pytest.approx(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "baseline", "target", "direction"),
    [
        (None, 10, 20, "increase"),
        (15, None, 20, "increase"),
        (15, 10, None, "increase"),
        (15, 10, 10, "increase"),  # no distance to cover
        (15, 20, 10, "increase"),  # "increase" but the target lies below the baseline
        (15, 10, 20, "decrease"),  # "decrease" but the target lies above the baseline
        (math.nan, 10, 20, "increase"),
        (15, 10, math.inf, "increase"),
    ],
)
def test_achievement_not_scored(
    value: float | None, baseline: float | None, target: float | None, direction: str
) -> None:
    assert achievement(value, baseline, target, direction) is None  # type: ignore[arg-type]


def test_achievement_does_not_overflow_on_huge_values() -> None:
    # (0 - -1e308) / (1e308 - -1e308) = 1/2, although both differences overflow
    assert achievement(0.0, -1e308, 1e308, "increase") == 50.0


def test_achievement_rejects_unknown_direction() -> None:
    with pytest.raises(ValueError):
        achievement(1, 0, 2, "up")  # type: ignore[arg-type]


# --- perception -------------------------------------------------------------------


def test_perception_of_one_low_two_high() -> None:
    p = perception((1, 5, 5), RULES)
    # mean 11/3 = 3.667; (3.667 - 1) / 4 * 100 = 66.67
    assert p.n == 3
    assert p.mean == pytest.approx(11 / 3)
    assert p.score == pytest.approx(200 / 3)
    # deviations -8/3, 4/3, 4/3 -> variance (64 + 16 + 16) / 9 / 3 = 32/9; sd 1.8856 -> * 100 / 4
    assert p.spread == pytest.approx(math.sqrt(32 / 9) * 25)
    assert p.spread == pytest.approx(47.14, abs=0.01)
    assert p.distribution == {1: 1, 2: 0, 3: 0, 4: 0, 5: 2}
    assert list(p.distribution) == [1, 2, 3, 4, 5]
    # Leik: cumulative counts 1,1,1,1 of 3 -> min(F, 1 - F) = 1/3 each -> 2 * (4/3) / 4 = 2/3
    assert p.disagreement == pytest.approx(2 / 3)
    assert p.contested


def test_leik_dispersion_matches_published_example() -> None:
    # agrmt's documented example: Leik(c(30,40,210,130,530,50,10)) is 0.287
    counts = (30, 40, 210, 130, 530, 50, 10)
    ratings = tuple(point for point, count in enumerate(counts, start=1) for _ in range(count))
    p = perception(ratings, ScoringRules(scale_min=1, scale_max=7))
    assert p.disagreement == pytest.approx(0.287, abs=5e-4)


@pytest.mark.parametrize(
    ("ratings", "expected"),
    [
        ((4, 4, 4), 0.0),  # unanimous
        ((1, 2, 3, 4, 5), 0.6),  # cumulative 1..4 of 5 -> mins 1,2,2,1 -> 2 * 6 / (5 * 4)
        ((1, 2, 4, 5, 5), 0.7),  # cumulative 1,2,2,3 of 5 -> mins 1,2,2,2 -> 2 * 7 / 20
        ((1, 1, 5, 5, 5), 0.8),  # cumulative 2,2,2,2 -> 2 * 8 / 20
        ((2, 2, 4, 4), 0.5),  # cumulative 0,2,2,4 of 4 -> mins 0,2,2,0 -> 2 * 4 / 16
        ((1, 5), 1.0),  # even split between the extremes
    ],
)
def test_disagreement_hand_computed(ratings: tuple[int, ...], expected: float) -> None:
    assert perception(ratings, RULES).disagreement == pytest.approx(expected)


def test_contested_needs_three_members_and_the_threshold() -> None:
    assert not perception((1, 5), RULES).contested  # maximal split, but only two people
    assert perception((2, 2, 4, 4), RULES).disagreement == DISAGREEMENT_THRESHOLD
    assert perception((2, 2, 4, 4), RULES).contested  # on the threshold counts
    assert not perception((2, 3, 3, 4, 5), RULES).contested  # 0.4: differences of degree


def test_perception_without_ratings() -> None:
    p = perception((), RULES)
    assert (p.score, p.n, p.mean, p.spread, p.disagreement, p.contested) == (None, 0, None, None, None, False)
    assert p.distribution == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}


def test_perception_on_another_scale() -> None:
    p = perception((7,), ScoringRules(scale_min=0, scale_max=10))
    assert p.score == pytest.approx(70.0)
    assert p.spread == 0.0
    assert p.disagreement == 0.0


@pytest.mark.parametrize("bad", [0, 6, 3.5, True])
def test_ratings_outside_the_scale_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        perception((3, bad), RULES)  # type: ignore[arg-type]


# --- status and rules -------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "expected"),
    [(100.0, "green"), (70.0, "green"), (69.99, "amber"), (40.0, "amber"), (39.99, "red"), (0.0, "red")],
)
def test_status_thresholds(score: float, expected: str) -> None:
    assert status(score, RULES) == expected


@pytest.mark.parametrize(
    ("score", "shown"),
    [
        (56.453812210648145, "56"),
        (69.4, "69"),
        (69.8, "69.8"),  # "70" would contradict its amber
        (69.96, "69.9"),  # "70.0" too: rounded toward its own band
        (70.0, "70"),
        (39.5, "39.5"),
        (40.4, "40"),
        (100.0, "100"),
    ],
)
def test_a_displayed_score_never_contradicts_its_status(score: float, shown: str) -> None:
    value, places = displayed(score, green=70, amber=40)
    assert str(value) == shown and places == (len(shown.partition(".")[2]))
    assert status(float(value), ScoringRules()) == status(score, ScoringRules())


def test_no_status_without_a_score() -> None:
    assert status(None, RULES) is None
    assert status(math.nan, RULES) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale_min": 5, "scale_max": 5},
        {"scale_min": 5, "scale_max": 1},
        {"green": 40.0, "amber": 70.0},
        {"green": 120.0},
        {"amber": math.nan},
        {"kpi_weight": -1.0},
        {"perception_weight": math.inf},
    ],
)
def test_inconsistent_rules_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ScoringRules(**kwargs)  # type: ignore[arg-type]


def test_negative_or_non_finite_weights_are_rejected() -> None:
    with pytest.raises(ValueError):
        PerspectiveInput("p", weight=-1.0)
    with pytest.raises(ValueError):
        CsfInput("c", "p", weight=-0.5)
    with pytest.raises(ValueError):
        KpiInput("k", "c", "increase", 0, 1, 1, weight=-2.0)
    with pytest.raises(ValueError):
        KpiInput("k", "c", "increase", 0, 1, 1, weight=math.nan)


def test_kpi_input_rejects_unknown_direction_and_negative_answers() -> None:
    with pytest.raises(ValueError):
        KpiInput("k", "c", "up", 0, 1, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        KpiInput("k", "c", "increase", 0, 1, 1, answers=-1)


# --- a whole round ----------------------------------------------------------------

PERSPECTIVES = (PerspectiveInput("finance", weight=2.0), PerspectiveInput("process", weight=1.0))
CSFS = (
    CsfInput("loans", "finance", weight=1.0, ratings=(4, 4, 5)),
    CsfInput("costs", "finance", weight=3.0),
    CsfInput("networks", "process", weight=1.0, ratings=(2, 3)),
)
KPIS = (
    KpiInput("plans", "loans", "increase", baseline=10, target=20, value=15, weight=1.0, answers=4),
    KpiInput("npl", "loans", "decrease", baseline=20, target=10, value=12, weight=3.0, answers=1),
    KpiInput("consortia", "costs", "increase", baseline=0, target=100, value=30, core=False, answers=2),
    KpiInput("lean", "costs", "increase", baseline=0, target=10, value=None),
    KpiInput("meetings", "networks", "increase", baseline=5, target=None, value=7, answers=3),
)


def test_round_two_perspectives_by_hand() -> None:
    r = score_round(PERSPECTIVES, CSFS, KPIS, RULES)
    # loans: KPIs plans 50 (w 1), npl 80 (w 3) -> (50 + 240) / 4 = 72.5
    #        ratings (4, 4, 5): mean 13/3 -> (13/3 - 1) / 4 * 100 = 83.333
    #        CSF = (72.5 * 50 + 83.333 * 50) / 100 = 467.5 / 6 = 77.917 -> green
    loans = r.csfs["loans"]
    assert loans.kpi_achievement == pytest.approx(72.5)
    assert loans.perception.score == pytest.approx(250 / 3)
    assert loans.score.value == pytest.approx(467.5 / 6)
    assert loans.score.status == "green"
    assert (loans.score.basis, loans.score.scored, loans.score.of) == (4 + 1 + 3, 2, 2)
    # costs: only the cluster KPI consortia is scored (30), no ratings -> falls back to 30, red
    costs = r.csfs["costs"]
    assert costs.kpi_achievement == pytest.approx(30.0)
    assert costs.perception.score is None
    assert costs.score.value == pytest.approx(30.0)
    assert costs.score.status == "red"
    assert (costs.score.basis, costs.score.scored, costs.score.of) == (2, 1, 2)
    # networks: the KPI has no target -> only ratings (2, 3): mean 2.5 -> 37.5, red
    networks = r.csfs["networks"]
    assert networks.kpi_achievement is None
    assert networks.score.value == pytest.approx(37.5)
    assert (networks.score.basis, networks.score.scored, networks.score.of) == (2, 0, 1)
    # finance = (77.917 * 1 + 30 * 3) / 4 = 1007.5 / 24 = 41.979 -> amber
    finance = r.perspectives["finance"].score
    assert finance.value == pytest.approx(1007.5 / 24)
    assert finance.status == "amber"
    assert (finance.basis, finance.scored, finance.of) == (10, 2, 2)
    # process = networks = 37.5
    assert r.perspectives["process"].score.value == pytest.approx(37.5)
    # overall = (41.979 * 2 + 37.5 * 1) / 3 = 1457.5 / 36 = 40.486 -> amber
    assert r.overall.value == pytest.approx(1457.5 / 36)
    assert r.overall.value == pytest.approx(40.486, abs=1e-3)
    assert r.overall.status == "amber"
    assert (r.overall.basis, r.overall.scored, r.overall.of) == (12, 2, 2)
    # KPI level
    assert r.kpis["npl"].achievement == pytest.approx(80.0)
    assert r.kpis["npl"].score.status == "green"
    assert (r.kpis["lean"].achievement, r.kpis["lean"].score.scored, r.kpis["lean"].score.of) == (None, 0, 1)
    assert r.kpis["meetings"].score.basis == 0  # unscored KPIs rest on nothing
    assert list(r.kpis) == ["plans", "npl", "consortia", "lean", "meetings"]


def test_core_only_drops_cluster_kpis() -> None:
    r = score_round(PERSPECTIVES, CSFS, KPIS, RULES, core_only=True)
    assert "consortia" not in r.kpis
    # costs: only "lean" is left, without a value, and nobody rated it -> not scored
    costs = r.csfs["costs"]
    assert costs.score.value is None
    assert costs.score.status is None
    assert (costs.score.scored, costs.score.of, costs.score.basis) == (0, 1, 0)
    # finance = loans alone (costs is left out, not counted as zero) = 467.5 / 6 = 77.917
    finance = r.perspectives["finance"].score
    assert finance.value == pytest.approx(467.5 / 6)
    assert (finance.scored, finance.of) == (1, 2)
    # overall = (77.917 * 2 + 37.5) / 3 = (935/6 + 225/6) / 3 = 1160 / 18 = 64.444 (full score: 40.486)
    assert r.overall.value == pytest.approx(1160 / 18)
    assert r.overall.status == "amber"


def test_rule_weights_shift_the_csf_mix() -> None:
    rules = ScoringRules(kpi_weight=75.0, perception_weight=25.0)
    r = score_round(PERSPECTIVES, CSFS, KPIS, rules)
    # loans = 0.75 * 72.5 + 0.25 * 83.333 = 54.375 + 20.833 = 75.208
    assert r.csfs["loans"].score.value == pytest.approx(54.375 + 250 / 12)


def test_a_zero_rule_weight_means_that_part_does_not_count() -> None:
    rules = ScoringRules(kpi_weight=0.0, perception_weight=100.0)
    r = score_round(PERSPECTIVES, CSFS, KPIS, rules)
    assert r.csfs["loans"].score.value == pytest.approx(250 / 3)  # perception alone
    assert r.csfs["loans"].score.basis == 3  # the KPI answers carried no weight
    assert r.csfs["costs"].score.value is None  # only KPIs, weighted zero


def test_zero_total_weight_is_not_scored_rather_than_an_error() -> None:
    perspectives = (PerspectiveInput("finance", weight=0.0), PerspectiveInput("process", weight=0.0))
    r = score_round(perspectives, CSFS, KPIS, RULES)
    assert r.overall.value is None
    assert (r.overall.scored, r.overall.of, r.overall.basis) == (2, 2, 0)
    assert r.perspectives["finance"].score.value is not None


def test_kpi_with_zero_weight_leaves_the_csf_to_perception() -> None:
    csfs = (CsfInput("loans", "finance", ratings=(3, 3)),)
    kpis = (KpiInput("plans", "loans", "increase", 0, 10, 10, weight=0.0, answers=5),)
    r = score_round((PerspectiveInput("finance"),), csfs, kpis, RULES)
    assert r.kpis["plans"].achievement == 100.0
    assert r.csfs["loans"].kpi_achievement is None
    assert r.csfs["loans"].score.value == pytest.approx(50.0)  # ratings 3, 3 -> 50


def test_non_finite_kpi_value_is_no_data() -> None:
    kpis = (KpiInput("plans", "loans", "increase", 0, 10, math.nan, answers=2),)
    csfs = (CsfInput("loans", "finance"),)
    r = score_round((PerspectiveInput("finance"),), csfs, kpis, RULES)
    assert r.kpis["plans"].value is None
    assert r.kpis["plans"].achievement is None
    assert r.overall.value is None
    assert r.overall.status is None


def test_empty_round() -> None:
    r = score_round((), (), (), RULES)
    assert (r.overall.value, r.overall.scored, r.overall.of, r.overall.basis) == (None, 0, 0, 0)
    assert r.contested_csfs() == []


@pytest.mark.parametrize(
    ("csfs", "kpis"),
    [
        ((CsfInput("a", "nowhere"),), ()),
        ((CsfInput("a", "p"),), (KpiInput("k", "missing", "increase", 0, 1, 1),)),
        ((CsfInput("a", "p"), CsfInput("a", "p")), ()),
        (
            (CsfInput("a", "p"),),
            (KpiInput("k", "a", "increase", 0, 1, 1), KpiInput("k", "a", "increase", 0, 1, 1)),
        ),
    ],
)
def test_inconsistent_structure_is_rejected(csfs: tuple[CsfInput, ...], kpis: tuple[KpiInput, ...]) -> None:
    with pytest.raises(ValueError):
        score_round((PerspectiveInput("p"),), csfs, kpis, RULES)


def test_contested_csfs_most_divided_first() -> None:
    csfs = (
        CsfInput("x", "p", ratings=(1, 5, 5)),  # 2/3
        CsfInput("calm", "p", ratings=(3, 3, 4)),  # cumulative 0,0,2,3 of 3 -> 2 * 1 / 12 = 1/6
        CsfInput("w", "p", ratings=(2, 2, 4, 4)),  # 0.5
        CsfInput("y", "p", ratings=(1, 1, 5, 5, 5)),  # 0.8
        CsfInput("pair", "p", ratings=(1, 5)),  # 1.0 but only two people
    )
    r = score_round((PerspectiveInput("p"),), csfs, (), RULES)
    assert [c.key for c in r.contested_csfs()] == ["y", "x", "w"]
    assert r.csfs["calm"].perception.disagreement == pytest.approx(1 / 6)


# --- benchmarks -------------------------------------------------------------------


def test_quartiles_inclusive() -> None:
    assert quartiles([5.0, 1.0, 3.0, 2.0, 4.0]) == (2.0, 3.0, 4.0)
    # positions (n - 1) * p = 0.75, 1.5, 2.25 on 1,2,3,4 -> 1.75, 2.5, 3.25
    assert quartiles([1.0, 2.0, 3.0, 4.0]) == pytest.approx((1.75, 2.5, 3.25))
    assert quartiles([7.0]) == (7.0, 7.0, 7.0)
    assert quartiles([]) is None
    assert quartiles([math.nan]) is None
