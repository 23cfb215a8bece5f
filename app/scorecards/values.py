"""What numbers a KPI can take: the range of its answers, the range of its round value, and which baseline and
target make sense. One set of rules for the template validator, the API, the setup page and every answer.

Every stored number is finite and inside its KPI's range, so scoring, roll-ups and benchmarks never meet a
value they cannot compute with: counts are whole and 0 or more, percentages 0 to 100, ratings on the scale,
yes/no 1 or 0, and other numbers at most MAX_MAGNITUDE either way unless the template narrows the range with
`min` and `max`.
"""

from app.i18n.translation import Msg, _l

MAX_MAGNITUDE = 1e15
"""A quadrillion: a cluster's exports in Vietnamese dong or Indonesian rupiah fit, and a sum of a million such
answers stays a million times below the largest float."""

Range = tuple[float, float]
AMOUNTS = frozenset({"count", "number", "percent"})
"""The types whose range a template may narrow with min and max."""


def type_range(kpi_type: str) -> Range | None:
    """The widest range a value of this type may take; None for text and ratings (ratings follow the scale)."""
    return {
        "count": (0.0, MAX_MAGNITUDE),
        "number": (-MAX_MAGNITUDE, MAX_MAGNITUDE),
        "percent": (0.0, 100.0),
        "yes_no": (0.0, 1.0),
    }.get(kpi_type)


def answer_range(kpi_type: str, minimum: float | None, maximum: float | None) -> Range | None:
    """An answer's (or a facilitator's value's) range: the type's, narrowed by the template's min and max."""
    widest = type_range(kpi_type)
    if widest is None:
        return None
    low = widest[0] if minimum is None else max(widest[0], minimum)
    high = widest[1] if maximum is None else min(widest[1], maximum)
    return low, high


def goal_range(aggregate: str | None, answers: Range | None) -> Range | None:
    """The range of the value a baseline and a target are compared with: the round's value, which for member
    KPIs is their answers combined."""
    if aggregate == "share_yes":
        return 0.0, 100.0
    if aggregate == "count_yes":
        return 0.0, MAX_MAGNITUDE
    if aggregate == "sum" and answers is not None:
        return (0.0 if answers[0] >= 0 else -MAX_MAGNITUDE), MAX_MAGNITUDE
    return answers


def goal_problem(
    *,
    baseline: float | None,
    target: float | None,
    direction: str,
    aggregate: str | None,
    values: Range | None,
) -> tuple[str, Msg] | None:
    """The first thing wrong with a baseline and target (which of the two, and why), or None.

    `values`: goal_range of the KPI. A share of yes answers is a percentage: a value strictly between 0 and 1,
    or a pair within 0..1 that reaches 1 (0 -> 1), is the old fraction form (0.6 for 60 %) and is refused.
    Achievement is (value - baseline) / (target - baseline), so a target equal to the baseline, or on the side
    of it that the direction calls worse, could never be scored.
    """
    for field, value in (("baseline", baseline), ("target", target)):
        if value is None:
            continue
        if values is not None and not values[0] <= value <= values[1]:
            low, high = values
            if field == "baseline":
                return field, _l("The baseline must lie between %(min)s and %(max)s.", min=low, max=high)
            return field, _l("The target must lie between %(min)s and %(max)s.", min=low, max=high)
    if aggregate == "share_yes":
        given = [(f, v) for f, v in (("baseline", baseline), ("target", target)) if v is not None]
        fraction = next(((f, v) for f, v in given if 0 < v < 1), None)
        if fraction is None and len(given) == 2 and max(v for _, v in given) == 1:
            fraction = next((f, v) for f, v in given if v == 1)
        if fraction is not None:
            field, value = fraction
            return field, _l(
                "This indicator is a percentage (0 to 100), not a fraction: type %(percent)s for %(fraction)s.",
                percent=round(value * 100, 9),
                fraction=value,
            )
    if baseline is None or target is None:
        return None
    if target == baseline:
        return "target", _l("The target equals the baseline (%(value)s): progress could not be measured.", value=target)
    if direction == "increase" and target < baseline:
        return "target", _l(
            "The target (%(target)s) is below the baseline (%(baseline)s), but higher is better for this "
            "indicator: swap them, or make lower better.",
            target=target,
            baseline=baseline,
        )
    if direction == "decrease" and target > baseline:
        return "target", _l(
            "The target (%(target)s) is above the baseline (%(baseline)s), but lower is better for this "
            "indicator: swap them, or make higher better.",
            target=target,
            baseline=baseline,
        )
    return None
