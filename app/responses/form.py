"""The member's self-evaluation as a web form: steps, field names, and form fields <-> a response draft.

Pure functions (no database, no web framework), so the mapping between what a phone posts and what
is stored can be tested on its own. One step per perspective; each CSF asks for a rating, a "why?"
comment and the answers to its active member-level KPIs.

Field names: `r.<csf>` rating, `c.<csf>` comment, `k.<kpi>` answer. Keys are [a-z0-9_-], safe in
names and ids.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from app.clusters.schemas import Scorecard, ScorecardCsf, ScorecardKpi, ScorecardPerspective
from app.i18n.numbers import number_for_input
from app.i18n.translation import _l
from app.responses.schemas import AnswerIn, RatingIn, ResponseDraft, ResponseRead

RATING, COMMENT, ANSWER = "r.", "c.", "k."
CSF_FIELDS = (RATING, COMMENT)  # a rating and its comment are stored together, in one row per CSF


class StoredRating(Protocol):
    rating: int | None
    comment: str


def member_kpis(csf: ScorecardCsf, scorecard: Scorecard, organisation_type: str) -> list[ScorecardKpi]:
    """The KPIs a member of this kind answers (cluster-level ones are entered by the facilitator, and some
    questions are for firms only)."""
    return [kpi for kpi in csf.kpis if scorecard.asks(kpi, organisation_type)]


def step_fields(perspective: ScorecardPerspective, scorecard: Scorecard, organisation_type: str) -> list[str]:
    """The fields that count as questions (the comment is optional and does not)."""
    names = []
    for csf in perspective.csfs:
        names.append(RATING + csf.key)
        names.extend(ANSWER + kpi.key for kpi in member_kpis(csf, scorecard, organisation_type))
    return names


def is_form_field(name: str) -> bool:
    return name.startswith((RATING, COMMENT, ANSWER))


def stored_values(response: ResponseRead | None, scorecard: Scorecard, locale: str) -> dict[str, str]:
    """What the member gave so far, as the text each input shows (numbers written as in `locale`)."""
    if response is None:
        return {}
    values: dict[str, str] = {}
    for rating in response.ratings:
        if rating.rating is not None:
            values[RATING + rating.csf_key] = str(rating.rating)
        if rating.comment:
            values[COMMENT + rating.csf_key] = rating.comment
    for answer in response.answers:
        kpi = scorecard.kpi(answer.kpi_key)
        if answer.value_text is not None:
            values[ANSWER + answer.kpi_key] = answer.value_text
        elif answer.value_num is not None:
            values[ANSWER + answer.kpi_key] = display_number(answer.value_num, kpi, locale)
    return values


def display_number(value: float, kpi: ScorecardKpi | None, locale: str) -> str:
    """As the input shows it, so that posting the page again reads back the same number."""
    if kpi is not None and kpi.type == "yes_no":
        return "yes" if value else "no"
    return number_for_input(value, locale)


@dataclass
class FormDraft:
    """A draft built from posted fields, with the field name behind each entry (to place errors)."""

    draft: ResponseDraft
    answer_fields: list[str] = field(default_factory=list)
    rating_fields: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def without(self, names: set[str]) -> ResponseDraft:
        """The same draft minus the entries behind `names` (to save what is valid)."""
        answers = [a for a, name in zip(self.draft.answers, self.answer_fields, strict=True) if name not in names]
        ratings = [r for r, name in zip(self.draft.ratings, self.rating_fields, strict=True) if name not in names]
        return ResponseDraft(answers=answers, ratings=ratings)

    def field_for(self, location: str) -> str | None:
        """Map a save_draft error location such as `answers[2].value` back to the form field."""
        kind, _, rest = location.partition("[")
        index = rest.split("]", 1)[0]
        if not index.isdigit():
            return None
        names = self.answer_fields if kind == "answers" else self.rating_fields if kind == "ratings" else []
        return names[int(index)] if int(index) < len(names) else None


def draft_from_form(form: Mapping[str, str], stored: Mapping[str, StoredRating]) -> FormDraft:
    """Turn posted fields into a draft. A rating and its comment are stored together, so a field
    posted alone (autosave sends one field) keeps the other half as it is stored."""
    result = FormDraft(draft=ResponseDraft())
    csf_keys: list[str] = []
    for name, raw in form.items():
        if name.startswith(ANSWER):
            result.draft.answers.append(AnswerIn(kpi_key=name[len(ANSWER) :], value=raw))
            result.answer_fields.append(name)
        elif name.startswith(CSF_FIELDS) and name[2:] not in csf_keys:
            csf_keys.append(name[2:])
    for csf_key in csf_keys:
        previous = stored.get(csf_key)
        rating: int | None = previous.rating if previous else None
        comment = previous.comment if previous else ""
        if RATING + csf_key in form:
            raw_rating = form[RATING + csf_key].strip()
            if raw_rating and not raw_rating.lstrip("-").isdigit():
                result.errors[RATING + csf_key] = _l("Please choose one of the points of the scale.")
                continue
            rating = int(raw_rating) if raw_rating else None
        if COMMENT + csf_key in form:
            comment = form[COMMENT + csf_key].strip()
            if len(comment) > 2000:
                result.errors[COMMENT + csf_key] = _l("Please keep this under %(max)s characters.", max=2000)
                continue
        result.draft.ratings.append(RatingIn(csf_key=csf_key, rating=rating, comment=comment))
        result.rating_fields.append(RATING + csf_key if RATING + csf_key in form else COMMENT + csf_key)
    return result


@dataclass
class Progress:
    answered: int
    total: int
    first_open_step: int | None  # 1-based; None when every question has an answer


def progress(scorecard: Scorecard, values: Mapping[str, str], organisation_type: str) -> Progress:
    answered = total = 0
    first_open: int | None = None
    for number, perspective in enumerate(scorecard.perspectives, start=1):
        names = step_fields(perspective, scorecard, organisation_type)
        given = sum(1 for name in names if values.get(name))
        answered += given
        total += len(names)
        if given < len(names) and first_open is None:
            first_open = number
    return Progress(answered=answered, total=total, first_open_step=first_open)


CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")


def device_change(client_id: str, client_at: str) -> tuple[str | None, datetime | None]:
    """The device's id and time (ms since 1970) of a change, each when it sent a valid one (else None: the
    change is then one the server names, made when it arrives)."""
    if not CLIENT_ID.match(client_id):
        return None, None
    try:
        at = datetime.fromtimestamp(int(client_at) / 1000, UTC) if client_at.isdigit() else None
    except (OverflowError, ValueError, OSError):
        at = None
    return client_id, at
