"""Turning what a member typed into a stored value, with a plain reason when it cannot be."""

import math
from typing import Any

from app.clusters.schemas import ScorecardKpi
from app.i18n.numbers import UnreadableNumber, read_number
from app.i18n.translation import Msg, _l
from app.scorecards import values

YES = {"yes", "y", "true", "1", "si", "sí", "sim", "ใช่"}
NO = {"no", "n", "false", "0", "não", "nao", "ไม่ใช่"}
MAX_TEXT = 2000


class AnswerRejected(ValueError):
    """The message is shown next to the field, so it speaks to the member, not to a developer.

    Like AppError's, it is an English msgid with %(name)s placeholders (or a ready Msg), translated when shown."""

    def __init__(self, message: str, **params: Any) -> None:
        self.message = message if isinstance(message, Msg) else Msg(message, **params)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def _number(raw: bool | float | str, locale: str) -> float:
    """A number given as a number (JSON, a spreadsheet cell) or typed as text in `locale` (app.i18n.numbers)."""
    if isinstance(raw, bool):
        raise AnswerRejected("Please enter a number.")
    if isinstance(raw, str):
        try:
            return read_number(raw, locale)
        except UnreadableNumber as exc:
            raise AnswerRejected(exc.message) from None
    if not math.isfinite(raw):
        raise AnswerRejected("Please enter a number.")
    return float(raw)


def value_problem(kpi: ScorecardKpi, value: float) -> Msg | None:
    """Why `value` cannot be stored for this KPI (outside its range, not whole where it counts), or None."""
    low, high = kpi.min, kpi.max
    if low is None or high is None:
        return None
    whole = value == int(value) if math.isfinite(value) else False
    default = values.answer_range(kpi.type, None, None) == (low, high)
    if kpi.type == "count":
        if default and (value < 0 or not whole):
            return _l("Please enter a whole number, 0 or more.")
        if value > high and default:
            return _l("Please enter a number no larger than %(max)s.", max=high)
        if not (whole and low <= value <= high):
            return _l("Please enter a whole number from %(min)s to %(max)s.", min=low, max=high)
    elif kpi.type == "percent":
        if not low <= value <= high:
            if default:
                return _l("Please enter a percentage between 0 and 100.")
            return _l("Please enter a percentage between %(min)s and %(max)s.", min=low, max=high)
    elif kpi.type == "rating":
        if not (whole and low <= value <= high):
            return _l("Please choose a whole number from %(min)s to %(max)s.", min=int(low), max=int(high))
    elif kpi.type == "yes_no":
        if value not in (0.0, 1.0):
            return _l("Please answer yes or no.")
    elif not low <= value <= high:
        return _l("Please enter a number from %(min)s to %(max)s.", min=low, max=high)
    return None


def coerce_answer(kpi: ScorecardKpi, raw: bool | float | str | None, *, locale: str) -> tuple[float | None, str | None]:
    """Return (value_num, value_text) for storage; None clears the answer. Text is read as numbers are
    written in `locale` (a Babel locale, or app.i18n.numbers.MACHINE for what software wrote)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, None
    if kpi.type == "text":
        text = str(raw).strip()
        if len(text) > MAX_TEXT:
            raise AnswerRejected("Please keep this under %(max)s characters.", max=MAX_TEXT)
        return None, text
    if kpi.type == "yes_no":
        if isinstance(raw, bool):
            return (1.0 if raw else 0.0), None
        token = str(raw).strip().lower()
        if token in YES:
            return 1.0, None
        if token in NO:
            return 0.0, None
        raise AnswerRejected("Please answer yes or no.")
    value = _number(raw, locale)
    problem = value_problem(kpi, value)
    if problem is not None:
        raise AnswerRejected(problem)
    return value, None


def check_rating(rating: int | None, *, rating_min: int, rating_max: int) -> None:
    if rating is not None and not rating_min <= rating <= rating_max:
        raise AnswerRejected("Please choose a rating from %(min)s to %(max)s.", min=rating_min, max=rating_max)
