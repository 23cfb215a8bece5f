"""Members' self-evaluations: drafts that autosave, submissions that are never silently overwritten."""

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.models import AuditEvent
from app.clusters import service as cluster_service
from app.clusters.models import Participant
from app.clusters.schemas import Scorecard
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n.translation import _l
from app.responses import form as member_form
from app.responses.logic import AnswerRejected, check_rating, coerce_answer
from app.responses.models import Answer, AnswerChange, ClientChange, CsfRating, Response
from app.responses.schemas import RatingIn, ResponseDraft, ResponseRead
from app.rounds.models import Round
from app.timeutil import as_utc, utcnow

# The statements of a member's save, built once: an autosave is the request members send most, and building
# a statement costs about as much as running it (docs/benchmarks.md). Bound parameters keep SQLAlchemy's cache
# key with the statement; "expanding" ones take a list.
_RESPONSE_OF_MEMBER = select(Response).where(
    Response.round_id == bindparam("round_id"), Response.participant_id == bindparam("participant_id")
)
_RATINGS_OF = select(CsfRating).where(
    CsfRating.response_id == bindparam("response_id"), col(CsfRating.csf_key).in_(bindparam("keys", expanding=True))
)
_ANSWERS_OF = select(Answer).where(
    Answer.response_id == bindparam("response_id"), col(Answer.kpi_key).in_(bindparam("keys", expanding=True))
)
_CHANGE_OF_CLIENT = select(ClientChange).where(ClientChange.client_id == bindparam("client_id"))
# When each field of a change was last changed with effect on this response.
_LATEST_CHANGES = select(AnswerChange.field, AnswerChange.client_at).where(
    col(AnswerChange.response_id) == bindparam("response_id"),
    col(AnswerChange.applied),
    col(AnswerChange.field).in_(bindparam("fields", expanding=True)),
)


def get_response(session: Session, response_id: int) -> Response:
    response = session.get(Response, response_id)
    if response is None:
        raise NotFound("No such response.")
    return response


def find_by_client_id(session: Session, client_id: str) -> Response | None:
    return session.exec(select(Response).where(Response.client_id == client_id)).first()


def _require_open(round_: Round) -> None:
    if round_.status != "open":
        raise Conflict("This round is not open for answers.")


def start_response(session: Session, round_: Round, participant: Participant) -> Response:
    """The participant's response for the round, created on first use (one per participant and round)."""
    _require_member(round_, participant)
    return find_response(session, round_, participant) or create_response(session, round_, participant)


def create_response(session: Session, round_: Round, participant: Participant) -> Response:
    """The participant's new response for the round, for a caller that found none (start_response looks first)."""
    assert round_.id is not None and participant.id is not None
    _require_member(round_, participant)
    _require_open(round_)
    response = Response(round_id=round_.id, participant_id=participant.id)
    session.add(response)
    session.flush()
    return response


def _require_member(round_: Round, participant: Participant) -> None:
    if participant.cluster_id != round_.cluster_id or not participant.active:
        raise NotFound("No such participant in this cluster.")


def check_draft(
    draft: ResponseDraft, *, scorecard: Scorecard, locale: str, organisation_type: str
) -> tuple[list[dict[str, str]], dict[str, tuple[float | None, str | None]]]:
    """Every problem of a draft ({field, message}, as the form shows them) and the values to store.

    `locale`: how numbers typed as text are read (a Babel locale, or app.i18n.numbers.MACHINE); only questions
    asked of a participant of `organisation_type` may be answered."""
    scale = {"rating_min": scorecard.rating_min, "rating_max": scorecard.rating_max}

    problems: list[dict[str, str]] = []
    values: dict[str, tuple[float | None, str | None]] = {}
    for index, answer in enumerate(draft.answers):
        kpi = scorecard.kpi(answer.kpi_key)
        if kpi is None or not kpi.active or kpi.level != "member":
            problems.append({"field": f"answers[{index}].kpi_key", "message": _l("Not a question of this round.")})
            continue
        if not scorecard.asks(kpi, organisation_type):
            problems.append({"field": f"answers[{index}].kpi_key", "message": _l("This question is for firms only.")})
            continue
        try:
            values[answer.kpi_key] = coerce_answer(kpi, answer.value, locale=locale)
        except AnswerRejected as exc:
            problems.append({"field": f"answers[{index}].value", "message": str(exc)})
    for index, rating in enumerate(draft.ratings):
        if scorecard.csf(rating.csf_key) is None:
            problems.append({"field": f"ratings[{index}].csf_key", "message": _l("Not a factor of this scorecard.")})
            continue
        try:
            check_rating(rating.rating, **scale)
        except AnswerRejected as exc:
            problems.append({"field": f"ratings[{index}].rating", "message": str(exc)})
    return problems, values


def _valid_values(
    session: Session, response: Response, draft: ResponseDraft, *, scorecard: Scorecard, locale: str
) -> dict[str, tuple[float | None, str | None]]:
    """The values of a draft for this response's participant, or InvalidInput with every problem."""
    participant = session.get(Participant, response.participant_id)
    assert participant is not None
    problems, values = check_draft(
        draft, scorecard=scorecard, locale=locale, organisation_type=participant.organisation_type
    )
    if problems:
        raise InvalidInput("Some answers could not be saved.", details=problems)
    return values


def save_draft(
    session: Session,
    response: Response,
    draft: ResponseDraft,
    *,
    scorecard: Scorecard,
    actor: str,
    locale: str,
    stored: dict[str, CsfRating] | None = None,
    new: bool = False,
) -> Response:
    """Validate everything first, then write: one bad value rejects the request and changes nothing.

    Changes to a submitted response are corrections: each is written to the audit trail. `stored`: the
    rating rows of the draft's CSFs when the caller has read them already; `new`: the response was created in
    this transaction, so it has no rows to read. Most callers go through
    save_change or save_form_change, which also keep a newer answer from being overwritten by an older one.
    """
    round_ = session.get(Round, response.round_id)
    assert round_ is not None
    _require_open(round_)
    values = _valid_values(session, response, draft, scorecard=scorecard, locale=locale)

    assert response.id is not None
    correcting = response.status == "submitted"
    now = utcnow()
    # New rows go in with one statement per table, the corrections' audit events with one more; the flush
    # updates the stored rows that changed.
    new_answers: list[dict[str, Any]] = []
    new_ratings: list[dict[str, Any]] = []
    corrections: list[dict[str, Any]] = []

    def audited(action: str, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        if correcting:
            corrections.append(
                audit.event(
                    actor=actor,
                    action=action,
                    entity="response",
                    entity_id=response.id,
                    cluster_id=round_.cluster_id,
                    before=before,
                    after=after,
                )
            )

    # Only the rows this draft touches: an autosave sends one field, and the form has dozens.
    answers: dict[str, Answer] = {}
    if values and not new:
        found = session.exec(_ANSWERS_OF, params={"response_id": response.id, "keys": list(values)})
        answers = {a.kpi_key: a for a in found}
    for kpi_key, (num, text) in values.items():
        row = answers.get(kpi_key)
        after = {"kpi_key": kpi_key, "value_num": num, "value_text": text}
        if row is None:
            audited("answer_corrected", None, after)
            new_answers.append({**after, "response_id": response.id, "updated_at": now})
        elif (row.value_num, row.value_text) != (num, text):
            audited(
                "answer_corrected",
                {"kpi_key": kpi_key, "value_num": row.value_num, "value_text": row.value_text},
                after,
            )
            row.value_num, row.value_text, row.updated_at = num, text, now

    if stored is not None:
        ratings = stored
    else:
        ratings = {} if new else stored_ratings(session, response, [r.csf_key for r in draft.ratings])
    for rating in draft.ratings:
        existing = ratings.get(rating.csf_key)
        after = {"csf_key": rating.csf_key, "rating": rating.rating, "comment": rating.comment}
        if existing is None:
            audited("rating_corrected", None, after)
            new_ratings.append({**after, "response_id": response.id, "updated_at": now})
        elif (existing.rating, existing.comment) != (rating.rating, rating.comment):
            audited(
                "rating_corrected",
                {"csf_key": rating.csf_key, "rating": existing.rating, "comment": existing.comment},
                after,
            )
            existing.rating, existing.comment, existing.updated_at = rating.rating, rating.comment, now

    if new_answers:
        session.execute(insert(Answer), new_answers)
    if new_ratings:
        session.execute(insert(CsfRating), new_ratings)
    audit.record_all(session, corrections)
    if not new:  # a new response was stamped as it was created, in this transaction
        response.updated_at = now
    session.flush()
    return response


def stored_ratings(session: Session, response: Response, csf_keys: list[str]) -> dict[str, CsfRating]:
    if not csf_keys:
        return {}
    rows = session.exec(_RATINGS_OF, params={"response_id": response.id, "keys": csf_keys})
    return {row.csf_key: row for row in rows}


def find_response(session: Session, round_: Round, participant: Participant) -> Response | None:
    return session.exec(_RESPONSE_OF_MEMBER, params={"round_id": round_.id, "participant_id": participant.id}).first()


def save_form_fields(
    session: Session, response: Response, fields: dict[str, str], *, scorecard: Scorecard, actor: str, locale: str
) -> dict[str, str]:
    """Save every valid field a member posted and return a message for each field that is not.

    Unlike the API (all or nothing), a member's form keeps what was right: one mistyped number
    must not cost the other answers of the page.
    """
    stored = stored_ratings(session, response, [name[2:] for name in fields if name.startswith(member_form.CSF_FIELDS)])
    posted = member_form.draft_from_form(fields, stored)
    errors = dict(posted.errors)
    save = {"scorecard": scorecard, "actor": actor, "locale": locale, "stored": stored}
    try:
        save_draft(session, response, posted.draft, **save)  # type: ignore[arg-type]
    except InvalidInput as exc:
        for problem in exc.details or []:
            name = posted.field_for(problem["field"])
            if name is not None:
                errors[name] = problem["message"]
        rest = posted.without(set(errors))
        if rest.answers or rest.ratings:
            save_draft(session, response, rest, **save)  # type: ignore[arg-type]
    return errors


# --- changes: one id, one change; an older change never overwrites a newer one ---------------------


@dataclass(frozen=True)
class Change:
    """A change to a response as a client sent it: from the member's form (and its offline queue), the API,
    ODK Collect or an import. Every path applies it by the same rule (find_change, save_form_change,
    save_change):

    - `client_id` identifies one change, forever: sent again with the same content it changes nothing, with
      other content (or for another response) it is refused (409). None: a change nobody can send again.
    - Per field, a change made before the stored value was (by the device's clock, `made_at`; for a change
      without it, by when it arrives; equal times: the later arrival) is kept in the history (AnswerChange)
      and audited as superseded, but not applied.
    """

    client_id: str | None
    made_at: datetime | None
    content: str
    """What it changes, written the same way every time it is sent (compared by its SHA-256)."""

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()

    @property
    def time(self) -> datetime:
        """When the change was made, as its fields compete with stored ones: never later than now, so that a
        device whose clock runs ahead cannot make an edit win for ever."""
        now = utcnow()
        return now if self.made_at is None else min(as_utc(self.made_at), now)


def form_change(fields: dict[str, str], *, client_id: str | None, made_at: datetime | None) -> Change:
    return Change(client_id, made_at, json.dumps(fields, sort_keys=True, ensure_ascii=False))


def draft_change(
    draft: ResponseDraft, *, client_id: str | None, made_at: datetime | None, submit: bool = False
) -> Change:
    content = draft.model_dump(mode="json", include={"answers", "ratings"})
    if submit:
        content["submit"] = True
    return Change(client_id, made_at, json.dumps(content, sort_keys=True, ensure_ascii=False))


def find_change(session: Session, change: Change, *, response_id: int | None = None) -> Response | None:
    """The response a change with this id was already applied to (a repeat: apply nothing, answer as before),
    None for an id never seen. The same id with other content, or for another response than `response_id`
    (when the caller knows which it means), is a conflict."""
    if change.client_id is None:
        return None
    seen = session.exec(_CHANGE_OF_CLIENT, params={"client_id": change.client_id}).first()
    if seen is None:
        return None
    same_content = seen.content_sha256 is None or seen.content_sha256 == change.digest
    if not same_content or (response_id is not None and seen.response_id != response_id):
        raise Conflict("This change id was already used for a different change.")
    return session.get(Response, seen.response_id)


def save_form_change(
    session: Session,
    response: Response,
    fields: dict[str, str],
    *,
    change: Change,
    scorecard: Scorecard,
    actor: str,
    locale: str,
) -> dict[str, str]:
    """Fields a member posted (a step, one autosaved field, a change queued offline): every valid field that is
    not older than the stored one is saved, and a message is returned for each field that is not valid."""
    assert response.id is not None
    if find_change(session, change, response_id=response.id) is not None:
        return {}
    newer = _not_older(session, response, list(fields), change.time)
    winning = {name: value for name, value in fields.items() if name in newer}
    errors = (
        save_form_fields(session, response, winning, scorecard=scorecard, actor=actor, locale=locale) if winning else {}
    )
    valid = {name: value for name, value in fields.items() if name not in errors}
    _record(session, response, change, valid, newer, actor=actor, cluster_id=scorecard.cluster_id)
    return errors


def save_change(
    session: Session,
    response: Response,
    draft: ResponseDraft,
    *,
    change: Change,
    scorecard: Scorecard,
    actor: str,
    locale: str,
    new: bool = False,
) -> None:
    """A change sent as a whole (API, ODK, import): all of it is valid or nothing is written (InvalidInput);
    of a valid change, each field not older than the stored one is saved. `new`: the response was created in
    this transaction (create_response), so nothing is stored to compare with and nothing is read."""
    assert response.id is not None
    if not new and find_change(session, change, response_id=response.id) is not None:
        return
    _valid_values(session, response, draft, scorecard=scorecard, locale=locale)
    fields = _draft_fields(draft)
    newer = set(fields) if new else _not_older(session, response, list(fields), change.time)
    ratings = {} if new else stored_ratings(session, response, [r.csf_key for r in draft.ratings])
    applied = ResponseDraft(
        answers=[a for a in draft.answers if member_form.ANSWER + a.kpi_key in newer],
        ratings=[_newer_halves(r, ratings.get(r.csf_key), newer) for r in draft.ratings if _touches(r, newer)],
    )
    if applied.answers or applied.ratings:
        save_draft(session, response, applied, scorecard=scorecard, actor=actor, locale=locale, stored=ratings, new=new)
    _record(session, response, change, fields, newer, actor=actor, cluster_id=scorecard.cluster_id)


def register_change(session: Session, response: Response, change: Change) -> None:
    """Remember the change's id with its content, so that it is never applied twice (find_change)."""
    assert response.id is not None
    if change.client_id is not None:
        row = {
            "client_id": change.client_id,
            "response_id": response.id,
            "content_sha256": change.digest,
            "received_at": utcnow(),
        }
        session.execute(insert(ClientChange), row)


def _draft_fields(draft: ResponseDraft) -> dict[str, str]:
    """A draft as form fields (name -> value as text), the unit in which changes compete and are recorded."""
    fields = {member_form.ANSWER + a.kpi_key: json.dumps(a.value, ensure_ascii=False) for a in draft.answers}
    for rating in draft.ratings:
        fields[member_form.RATING + rating.csf_key] = "" if rating.rating is None else str(rating.rating)
        fields[member_form.COMMENT + rating.csf_key] = rating.comment
    return fields


def _touches(rating: RatingIn, newer: set[str]) -> bool:
    return member_form.RATING + rating.csf_key in newer or member_form.COMMENT + rating.csf_key in newer


def _newer_halves(rating: RatingIn, stored: CsfRating | None, newer: set[str]) -> RatingIn:
    """A rating and its comment are one row but two fields: the half that lost keeps its stored value."""
    keep_rating = member_form.RATING + rating.csf_key not in newer
    keep_comment = member_form.COMMENT + rating.csf_key not in newer
    return RatingIn(
        csf_key=rating.csf_key,
        rating=(stored.rating if stored else None) if keep_rating else rating.rating,
        comment=(stored.comment if stored else "") if keep_comment else rating.comment,
    )


def _not_older(session: Session, response: Response, names: list[str], at: datetime) -> set[str]:
    """The fields whose last applied change was made no later than `at`."""
    latest: dict[str, datetime] = {}
    for name, made in session.exec(_LATEST_CHANGES, params={"response_id": response.id, "fields": names}):
        latest[name] = max(latest.get(name, as_utc(made)), as_utc(made))
    return {name for name in names if name not in latest or latest[name] <= at}


def _record(
    session: Session,
    response: Response,
    change: Change,
    fields: dict[str, str],
    applied: set[str],
    *,
    actor: str,
    cluster_id: int,
) -> None:
    """The change's id (so it is never applied twice) and each of its fields in the history, applied or not;
    a field that lost to a newer one is audited as superseded."""
    assert response.id is not None
    client_id = change.client_id or f"server-{uuid.uuid4().hex}"
    register_change(session, response, change)
    made_at, now = change.time, utcnow()
    history = [
        {
            "client_id": f"{client_id}:{name}",
            "response_id": response.id,
            "field": name,
            "value": value[:2000],
            "client_at": made_at,
            "applied": name in applied,
            "received_at": now,
        }
        for name, value in fields.items()
    ]
    superseded = [
        audit.event(
            actor=actor,
            action="answer_superseded",
            entity="response",
            entity_id=response.id,
            cluster_id=cluster_id,
            after={"field": name, "value": value[:2000], "client_at": made_at.isoformat()},
        )
        for name, value in fields.items()
        if name not in applied
    ]
    if history:
        session.execute(insert(AnswerChange), history)
    audit.record_all(session, superseded)


def submit(
    session: Session, response: Response, *, client_id: str | None, actor: str, events: Sequence[dict[str, Any]] = ()
) -> Response:
    """Idempotent: submitting again (a retry, a double tap) changes nothing. `events`: the caller's own audit
    events of this change (audit.event), written in any case, with the submission's: its last statements, so
    that the cluster's row, which raising its data revision locks until the commit, is locked for the shortest
    time (every submission of a cluster waits for that lock: docs/benchmarks.md, OpenRosa)."""
    if response.status == "submitted":
        audit.record_all(session, list(events))
        return response
    round_ = session.get(Round, response.round_id)
    assert round_ is not None
    _require_open(round_)
    if client_id is not None:
        owner = find_by_client_id(session, client_id)
        if owner is not None and owner.id != response.id:
            raise Conflict("This client id was already used for another response.")
        response.client_id = client_id
    response.status = "submitted"
    response.submitted_at = response.updated_at = utcnow()
    session.add(response)
    session.flush()
    submitted = audit.event(
        actor=actor,
        action="response_submitted",
        entity="response",
        entity_id=response.id,
        cluster_id=round_.cluster_id,
        after={"status": "submitted"},
    )
    audit.record_all(session, [submitted, *events])
    return response


def read(session: Session, response: Response) -> ResponseRead:
    answers = session.exec(select(Answer).where(Answer.response_id == response.id).order_by(col(Answer.id)))
    ratings = session.exec(select(CsfRating).where(CsfRating.response_id == response.id).order_by(col(CsfRating.id)))
    assert response.id is not None
    return ResponseRead.model_validate(
        {
            "id": response.id,
            "round_id": response.round_id,
            "participant_id": response.participant_id,
            "status": response.status,
            "client_id": response.client_id,
            "submitted_at": response.submitted_at,
            "answers": list(answers),
            "ratings": list(ratings),
        },
        from_attributes=True,
    )


def list_for_round(session: Session, round_: Round) -> list[Response]:
    return list(session.exec(select(Response).where(Response.round_id == round_.id).order_by(col(Response.id))))


def history(session: Session, response: Response) -> list[AuditEvent]:
    assert response.id is not None
    return audit.history(session, entity="response", entity_id=response.id)


def scorecard_for(session: Session, response: Response) -> Scorecard:
    round_ = session.get(Round, response.round_id)
    assert round_ is not None
    return cluster_service.scorecard(session, cluster_service.get_cluster(session, round_.cluster_id))
