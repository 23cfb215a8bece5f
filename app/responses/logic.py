"""Turning what a member typed into a stored value, with a plain reason when it cannot be."""

import math
from typing import Any

from app.clusters.schemas import ScorecardKpi
from app.i18n.translation import Msg

YES = {"yes", "y", "true", "1", "si", "sí", "sim", "ใช่"}
NO = {"no", "n", "false", "0", "não", "nao", "ไม่ใช่"}
MAX_TEXT = 2000


class AnswerRejected(ValueError):
    """The message is shown next to the field, so it speaks to the member, not to a developer.

    Like AppError's, it is an English msgid with %(name)s placeholders, translated when shown."""

    def __init__(self, message: str, **params: Any) -> None:
        self.message = Msg(message, **params)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def _number(raw: bool | float | str) -> float:
    if isinstance(raw, bool):
        raise AnswerRejected("Please enter a number.")
    if isinstance(raw, str):
        try:
            raw = float(raw.strip().replace(",", "."))
        except ValueError:
            raise AnswerRejected("Please enter a number.") from None
    if not math.isfinite(raw):
        raise AnswerRejected("Please enter a number.")
    return float(raw)


def coerce_answer(
    kpi: ScorecardKpi, raw: bool | float | str | None, *, rating_min: int, rating_max: int
) -> tuple[float | None, str | None]:
    """Return (value_num, value_text) for storage; None clears the answer."""
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
    value = _number(raw)
    if kpi.type == "count" and (value < 0 or value != int(value)):
        raise AnswerRejected("Please enter a whole number, 0 or more.")
    if kpi.type == "percent" and not 0 <= value <= 100:
        raise AnswerRejected("Please enter a percentage between 0 and 100.")
    if kpi.type == "rating" and (value != int(value) or not rating_min <= value <= rating_max):
        raise AnswerRejected("Please choose a whole number from %(min)s to %(max)s.", min=rating_min, max=rating_max)
    return value, None


def check_rating(rating: int | None, *, rating_min: int, rating_max: int) -> None:
    if rating is not None and not rating_min <= rating <= rating_max:
        raise AnswerRejected("Please choose a rating from %(min)s to %(max)s.", min=rating_min, max=rating_max)
