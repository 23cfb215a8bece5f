"""Scoring engine for a cluster's balanced scorecard round.

Kept free of the database, the web framework and pydantic so that every number a
cluster sees can be reproduced from frozen inputs in a unit test with hand-computed
values, and so that benchmarks and exports reuse exactly the same arithmetic.

Scores run from KPI achievement (each KPI against the cluster's own baseline and
target, 0-100) and member perception (ratings of how present a critical success
factor is) up through CSFs and perspectives to one overall score. Achievement is
normalised because KPIs have different units; only normalised scores and their
quartiles are comparable across clusters (see DOMAIN.md, "Scores that compare across
clusters"). Floats are never rounded here: rounding is a presentation decision.
"""

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal, get_args

Direction = Literal["increase", "decrease"]
Aggregate = Literal["count_yes", "share_yes", "sum", "mean", "median"]
Status = Literal["green", "amber", "red"]

# Leik's ordinal dispersion at or above which a CSF goes on the facilitator's list of
# discussion topics. 0.5 is what an even split between two ratings half the scale
# apart gives (2 vs 4 on 1-5), or a quarter of the members at the opposite extreme
# from the rest; it is also the value a completely even spread over a long scale
# tends to. Below it, members differ in degree; at or above it, they are in two camps.
DISAGREEMENT_THRESHOLD = 0.5

# A split between two people is a pair of opinions rather than a divided group, and
# flagging it would tell each of them how the other rated. Three is the smallest
# group with a majority and a minority.
MIN_RATINGS_FOR_CONTESTED = 3

_DIRECTIONS: frozenset[str] = frozenset(get_args(Direction))
_AGGREGATES: frozenset[str] = frozenset(get_args(Aggregate))


def _finite(x: float | None) -> float | None:
    """Map NaN and infinities to "no data" so that a bad import cannot poison a mean."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def _check_weight(name: str, weight: float) -> None:
    """Reject weights that would make a weighted mean meaningless rather than guess."""
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {weight!r}")


def _weighted_mean(pairs: Iterable[tuple[float, float]]) -> float | None:
    """Weighted mean of (value, weight) pairs; None when no weight is left.

    Weights are scaled by the largest so that very large weights cannot overflow, and
    the result is clamped to the range of the weighted values because float rounding
    could otherwise push a mean of scores that are all 100 to 100.00000000000001.
    """
    items = [(v, w) for v, w in pairs if w > 0]
    if not items:
        return None
    w_max = max(w for _, w in items)
    num = math.fsum(v * (w / w_max) for v, w in items)
    den = math.fsum(w / w_max for _, w in items)
    if den == 0:
        return None
    lo = min(v for v, _ in items)
    hi = max(v for v, _ in items)
    return min(max(num / den, lo), hi)


# --- inputs -----------------------------------------------------------------------


@dataclass(frozen=True)
class ScoringRules:
    """An agency's or cluster's scoring conventions, fixed per round so that a round
    stays reproducible when the rules change later."""

    scale_min: int = 1
    scale_max: int = 5
    green: float = 70.0  # score >= green -> green
    amber: float = 40.0  # amber <= score < green -> amber, below -> red
    kpi_weight: float = 50.0  # weight of mean KPI achievement in a CSF score
    perception_weight: float = 50.0  # weight of the member perception score in a CSF score

    def __post_init__(self) -> None:
        if self.scale_max <= self.scale_min:
            raise ValueError("scale_max must be greater than scale_min: a one-point scale cannot be rated")
        for name in ("green", "amber"):
            threshold = getattr(self, name)
            if not (math.isfinite(threshold) and 0 <= threshold <= 100):
                raise ValueError(f"{name} must lie in 0..100, got {threshold!r}")
        if self.amber > self.green:
            raise ValueError("amber must not be above green")
        _check_weight("kpi_weight", self.kpi_weight)
        _check_weight("perception_weight", self.perception_weight)


@dataclass(frozen=True)
class KpiInput:
    key: str
    csf_key: str
    direction: Direction
    baseline: float | None
    target: float | None
    value: float | None  # the KPI's value for the round (already aggregated), None = no data
    weight: float = 1.0
    core: bool = True  # template KPI (True) or cluster-defined (False)
    answers: int = 0  # how many member answers / entered values the value rests on

    def __post_init__(self) -> None:
        if self.direction not in _DIRECTIONS:
            raise ValueError(f"KPI {self.key!r}: direction must be increase or decrease")
        _check_weight(f"KPI {self.key!r} weight", self.weight)
        if self.answers < 0:
            raise ValueError(f"KPI {self.key!r}: answers cannot be negative")


@dataclass(frozen=True)
class CsfInput:
    key: str
    perspective_key: str
    weight: float = 1.0
    ratings: tuple[int, ...] = ()  # members' ratings of how present this CSF is, on the rules' scale

    def __post_init__(self) -> None:
        _check_weight(f"CSF {self.key!r} weight", self.weight)


@dataclass(frozen=True)
class PerspectiveInput:
    key: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        _check_weight(f"perspective {self.key!r} weight", self.weight)


# --- outputs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Perception:
    """Members' view of one CSF. Spread and disagreement travel with the score because
    a mean of 3 can hide a group split between 1 and 5, which is what a participatory
    reflection session needs to talk about."""

    score: float | None
    n: int
    mean: float | None
    spread: float | None
    distribution: dict[int, int]
    disagreement: float | None
    contested: bool


@dataclass(frozen=True)
class Score:
    """A score with what it rests on, so that a thin basis or low coverage is visible
    next to the number instead of hiding behind it.

    ``basis`` counts the answers behind the weighted parts that entered the score;
    ``scored``/``of`` count the children that have a score out of those that exist
    (for a KPI, its single measurement: 1/1 when scored, 0/1 when not).
    """

    value: float | None
    status: Status | None
    basis: int
    scored: int
    of: int


@dataclass(frozen=True)
class KpiScore:
    key: str
    csf_key: str
    value: float | None
    achievement: float | None
    score: Score
    core: bool


@dataclass(frozen=True)
class CsfScore:
    key: str
    perspective_key: str
    kpi_achievement: float | None
    perception: Perception
    score: Score


@dataclass(frozen=True)
class PerspectiveScore:
    key: str
    score: Score


@dataclass(frozen=True)
class RoundScores:
    overall: Score
    perspectives: dict[str, PerspectiveScore]
    csfs: dict[str, CsfScore]
    kpis: dict[str, KpiScore]

    def contested_csfs(self) -> list[CsfScore]:
        """The facilitator's discussion topics, most divided first; ties keep scorecard order."""
        contested = [c for c in self.csfs.values() if c.perception.contested]
        return sorted(contested, key=lambda c: -(c.perception.disagreement or 0.0))


# --- building blocks --------------------------------------------------------------


def aggregate(method: Aggregate, values: Sequence[float]) -> float | None:
    """Roll member answers up to one cluster value.

    No answers is "no data", never zero, even for counts and sums: a cluster where
    nobody answered must not look like a cluster where every answer was no. Yes/no
    answers are stored as 1.0/0.0; anything other than 1.0 counts as not yes.
    NaN and infinities are dropped as unusable answers. Answers are bounded where they are
    stored, but this never fails on any finite ones: a mean or median is computed so that
    it cannot overflow, and a sum beyond the largest float is not a value (None).
    """
    if method not in _AGGREGATES:
        raise ValueError(f"unknown aggregate {method!r}")
    clean = [v for v in (_finite(x) for x in values) if v is not None]
    if not clean:
        return None
    if method == "count_yes":
        return float(sum(1 for v in clean if v == 1))
    if method == "share_yes":
        return 100.0 * sum(1 for v in clean if v == 1) / len(clean)
    if method == "sum":
        try:
            return _finite(math.fsum(clean))
        except OverflowError:
            return None
    if method == "mean":
        try:
            mean = statistics.fmean(clean)
        except OverflowError:
            # The mean lies between the answers, so the sum of the shares cannot overflow.
            mean = math.fsum(v / len(clean) for v in clean)
        # Rounding the division can step just past equal answers (3 x 6.4e16); a mean never does.
        return min(max(mean, min(clean)), max(clean))
    middle = float(statistics.median(clean))
    if math.isfinite(middle):
        return middle
    # The two middle answers added overflow; halved first, they cannot.
    return statistics.median_low(clean) / 2 + statistics.median_high(clean) / 2


def achievement(
    value: float | None, baseline: float | None, target: float | None, direction: Direction
) -> float | None:
    """How far a KPI has moved from its baseline towards its target, 0-100.

    One formula serves both directions because (v - b) / (t - b) is already positive
    for a fall when the target lies below the baseline. The direction is still
    checked: an "increase" KPI whose target is below its baseline is a data-entry
    contradiction, and scoring it would silently reward decline. "Not scored" (None)
    is kept apart from 0 so that missing data never reads as failure.
    """
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be increase or decrease, got {direction!r}")
    v, b, t = _finite(value), _finite(baseline), _finite(target)
    if v is None or b is None or t is None or b == t:
        return None
    if (direction == "increase" and t < b) or (direction == "decrease" and t > b):
        return None
    num, den = v - b, t - b
    if not (math.isfinite(num) and math.isfinite(den)):
        # Differences of huge finite floats overflow; halving first is exact there.
        num, den = v / 2 - b / 2, t / 2 - b / 2
    return min(max(100.0 * (num / den), 0.0), 100.0)


def _leik_dispersion(counts: Sequence[int], n: int) -> float:
    """Leik's ordinal dispersion D = 2 * sum(min(F_i, 1 - F_i)) / (K - 1), in 0..1.

    Leik, R. K. (1966). A measure of ordinal consensus. Pacific Sociological Review
    9(2): 85-90 (as implemented in Ruedin's R package agrmt, ``Leik()``).

    Chosen over van der Eijk's agreement A (Quality & Quantity 35: 325-341, 2001)
    because A turns on how many scale points are occupied, which in a workshop of a
    few members is decided by single votes: for ratings (1, 2, 4, 5, 5) A is 0.09,
    more agreement than an even spread (1, 2, 3, 4, 5) with A = 0, although the first
    is a group in two camps. Leik's D follows distance on the scale (Leik gives 0.70
    and 0.60), is 0 for unanimity and 1 for an even split between the two extremes,
    so it reads directly as disagreement, and it needs no layer decomposition.
    Computed from integer counts so that values on the threshold are exact.
    """
    k = len(counts)
    cumulative = 0
    total = 0
    for count in counts[:-1]:
        cumulative += count
        total += min(cumulative, n - cumulative)
    return 2 * total / (n * (k - 1))


def perception(ratings: Sequence[int], rules: ScoringRules) -> Perception:
    """Summarise members' ratings of one CSF on the 0-100 scale used for KPIs.

    The mean is mapped linearly (scale_min -> 0, scale_max -> 100) so that perception
    and achievement can be mixed in one CSF score. A rating that is not a point on the
    scale is an error upstream, not noise to drop.
    """
    lo, hi = rules.scale_min, rules.scale_max
    for r in ratings:
        if isinstance(r, bool) or not isinstance(r, int) or not lo <= r <= hi:
            raise ValueError(f"rating {r!r} is not a point on the {lo}..{hi} scale")
    distribution = {point: 0 for point in range(lo, hi + 1)}
    for r in ratings:
        distribution[r] += 1
    n = len(ratings)
    if n == 0:
        return Perception(None, 0, None, None, distribution, None, False)
    width = hi - lo
    mean = statistics.fmean(ratings)
    score = min(max(100.0 * (mean - lo) / width, 0.0), 100.0)
    spread = statistics.pstdev(ratings) * 100.0 / width
    disagreement = _leik_dispersion(list(distribution.values()), n)
    contested = n >= MIN_RATINGS_FOR_CONTESTED and disagreement >= DISAGREEMENT_THRESHOLD
    return Perception(score, n, mean, spread, distribution, disagreement, contested)


def status(score: float | None, rules: ScoringRules) -> Status | None:
    """Traffic light for a score; no light for no score, so that gaps are not painted red."""
    s = _finite(score)
    if s is None:
        return None
    if s >= rules.green:
        return "green"
    if s >= rules.amber:
        return "amber"
    return "red"


def displayed(score: float, *, green: float, amber: float) -> tuple[Decimal, int]:
    """A score as people read it, with its number of decimals, never contradicting its status.

    Whole numbers (half up), unless that would carry the score into another band (69.8 would read 70
    while green starts at 70): then one decimal (69.8), rounded toward the score's own band where even
    that would (69.96 reads 69.9), and more only for thresholds with more decimals. This is presentation;
    the engine itself never rounds.
    """
    rules = ScoringRules(green=green, amber=amber)
    own = status(score, rules)
    exact = Decimal(repr(float(score)))
    for places in range(4):
        quantum = Decimal(1).scaleb(-places)
        nearest = exact.quantize(quantum, rounding=ROUND_HALF_UP)
        if status(float(nearest), rules) == own:
            return nearest, places
        if places == 0:
            continue
        toward_own_band = ROUND_FLOOR if nearest > exact else ROUND_CEILING
        directed = exact.quantize(quantum, rounding=toward_own_band)
        if status(float(directed), rules) == own:
            return directed, places
    return exact, max(0, -int(exact.as_tuple().exponent))


def _score(value: float | None, rules: ScoringRules, basis: int, scored: int, of: int) -> Score:
    return Score(value=value, status=status(value, rules), basis=basis, scored=scored, of=of)


def _unique_keys(kind: str, keys: Iterable[str]) -> set[str]:
    """Duplicate keys would silently overwrite each other in the result dicts."""
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"duplicate {kind} key {key!r}")
        seen.add(key)
    return seen


# --- the round --------------------------------------------------------------------


def score_round(
    perspectives: Sequence[PerspectiveInput],
    csfs: Sequence[CsfInput],
    kpis: Sequence[KpiInput],
    rules: ScoringRules,
    *,
    core_only: bool = False,
) -> RoundScores:
    """Score a round from KPIs and ratings up to the overall score.

    At every level, children without a score are left out of the weighted mean rather
    than counted as zero: a CSF nobody has data for yet says nothing about
    performance, and zero would punish a cluster for an empty form. Coverage
    (``scored``/``of``) and ``basis`` make the gap visible instead. A weighted mean
    whose weights sum to zero is "not scored" as well.

    A CSF mixes mean KPI achievement and perception by the rules' weights; when only
    one of them exists, the CSF score is that one (provided its rule weight is above
    zero: a zero weight means the agency chose not to score on it).

    ``core_only`` drops cluster-defined KPIs entirely, as if absent, giving the core
    score that benchmarks compare; the full score is for the cluster's own use.
    """
    perspective_keys = _unique_keys("perspective", (p.key for p in perspectives))
    csf_keys = _unique_keys("CSF", (c.key for c in csfs))
    _unique_keys("KPI", (k.key for k in kpis))
    for c in csfs:
        if c.perspective_key not in perspective_keys:
            raise ValueError(f"CSF {c.key!r} refers to unknown perspective {c.perspective_key!r}")
    for k in kpis:
        if k.csf_key not in csf_keys:
            raise ValueError(f"KPI {k.key!r} refers to unknown CSF {k.csf_key!r}")

    kpi_scores: dict[str, KpiScore] = {}
    kpis_by_csf: dict[str, list[tuple[KpiInput, KpiScore]]] = {c.key: [] for c in csfs}
    for k in kpis:
        if core_only and not k.core:
            continue
        ach = achievement(k.value, k.baseline, k.target, k.direction)
        scored = ach is not None
        kpi_score = KpiScore(
            key=k.key,
            csf_key=k.csf_key,
            value=_finite(k.value),
            achievement=ach,
            score=_score(ach, rules, basis=k.answers if scored else 0, scored=int(scored), of=1),
            core=k.core,
        )
        kpi_scores[k.key] = kpi_score
        kpis_by_csf[k.csf_key].append((k, kpi_score))

    csf_scores: dict[str, CsfScore] = {}
    csfs_by_perspective: dict[str, list[tuple[CsfInput, CsfScore]]] = {p.key: [] for p in perspectives}
    for c in csfs:
        children = kpis_by_csf[c.key]
        achieved = [(s.achievement, k.weight, s.score.basis) for k, s in children if s.achievement is not None]
        kpi_achievement = _weighted_mean((a, w) for a, w, _ in achieved)
        kpi_basis = sum(b for _, w, b in achieved if w > 0)
        seen = perception(c.ratings, rules)

        parts: list[tuple[float, float, int]] = []
        if kpi_achievement is not None:
            parts.append((kpi_achievement, rules.kpi_weight, kpi_basis))
        if seen.score is not None:
            parts.append((seen.score, rules.perception_weight, seen.n))
        value = _weighted_mean((v, w) for v, w, _ in parts)
        basis = sum(b for _, w, b in parts if w > 0) if value is not None else 0
        csf_score = CsfScore(
            key=c.key,
            perspective_key=c.perspective_key,
            kpi_achievement=kpi_achievement,
            perception=seen,
            score=_score(value, rules, basis=basis, scored=len(achieved), of=len(children)),
        )
        csf_scores[c.key] = csf_score
        csfs_by_perspective[c.perspective_key].append((c, csf_score))

    perspective_scores: dict[str, PerspectiveScore] = {}
    for p in perspectives:
        children_csf = csfs_by_perspective[p.key]
        perspective_scores[p.key] = PerspectiveScore(
            key=p.key, score=_roll_up(rules, [(c.weight, s.score) for c, s in children_csf])
        )

    overall = _roll_up(rules, [(p.weight, perspective_scores[p.key].score) for p in perspectives])
    return RoundScores(overall=overall, perspectives=perspective_scores, csfs=csf_scores, kpis=kpi_scores)


def _roll_up(rules: ScoringRules, children: Sequence[tuple[float, Score]]) -> Score:
    """One level up: weighted mean of the children that have a score."""
    present = [(w, s) for w, s in children if s.value is not None]
    value = _weighted_mean((s.value, w) for w, s in present if s.value is not None)
    basis = sum(s.basis for w, s in present if w > 0) if value is not None else 0
    return _score(value, rules, basis=basis, scored=len(present), of=len(children))


# --- benchmarks -------------------------------------------------------------------


def quartiles(values: Sequence[float]) -> tuple[float, float, float] | None:
    """Lower quartile, median and upper quartile of a peer group.

    The inclusive method treats the peer group as the whole population, which it is:
    the clusters in a programme are not a sample of some larger set. Non-finite values
    are ignored; a single value is its own quartiles.
    """
    clean = sorted(v for v in (_finite(x) for x in values) if v is not None)
    if not clean:
        return None
    if len(clean) == 1:
        return (clean[0], clean[0], clean[0])
    # Interpolating between values near the largest float overflows; scaled by a power of two (exact), it
    # cannot, and scaling back cannot either, since a quartile lies between the values.
    scale = 2.0**-16 if max(abs(clean[0]), abs(clean[-1])) > 1e300 else 1.0
    q1, q2, q3 = (q / scale for q in statistics.quantiles([v * scale for v in clean], n=4, method="inclusive"))
    return (q1, q2, q3)
