"""Members' self-evaluations: drafts that autosave, submissions that are never silently overwritten."""

from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import Session, and_, col, or_, select

from app.audit import service as audit
from app.audit.models import AuditEvent
from app.clusters import service as cluster_service
from app.clusters.models import Participant
from app.clusters.schemas import Scorecard
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n.translation import _l
from app.responses import form as member_form
from app.responses.logic import AnswerRejected, check_rating, coerce_answer
from app.responses.models import Answer, AnswerChange, CsfRating, Response
from app.responses.schemas import ResponseDraft, ResponseRead
from app.rounds.models import Round
from app.timeutil import as_utc, utcnow

# The statements of a member's save, built once: an autosave is the request members send most, and building
# a statement costs about as much as running it (bench/load.py). Bound parameters keep SQLAlchemy's cache key
# with the statement; "expanding" ones take a list.
_RESPONSE_OF_MEMBER = select(Response).where(
    Response.round_id == bindparam("round_id"), Response.participant_id == bindparam("participant_id")
)
_RATINGS_OF = select(CsfRating).where(
    CsfRating.response_id == bindparam("response_id"), col(CsfRating.csf_key).in_(bindparam("keys", expanding=True))
)
_ANSWERS_OF = select(Answer).where(
    Answer.response_id == bindparam("response_id"), col(Answer.kpi_key).in_(bindparam("keys", expanding=True))
)
# populate_existing: the rows already in the session are refreshed with what is read.
_ROUND_AND_RESPONSE = (
    select(Round, Response)
    .outerjoin(
        Response,
        and_(col(Response.round_id) == Round.id, col(Response.participant_id) == bindparam("participant_id")),
    )
    .where(Round.id == bindparam("round_id"))
    .execution_options(populate_existing=True)
)
# One query answers both questions of a device's change: was it seen before (its id, on whichever response),
# and when was each of its fields last changed with effect on this response.
_APPLIED_HERE = and_(
    col(AnswerChange.response_id) == bindparam("response_id"),
    col(AnswerChange.applied),
    col(AnswerChange.field).in_(bindparam("fields", expanding=True)),
)
_KNOWN_CHANGES = select(AnswerChange.client_id, AnswerChange.field, AnswerChange.client_at, _APPLIED_HERE).where(
    or_(col(AnswerChange.client_id).in_(bindparam("change_ids", expanding=True)), _APPLIED_HERE)
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
    assert round_.id is not None and participant.id is not None
    if participant.cluster_id != round_.cluster_id or not participant.active:
        raise NotFound("No such participant in this cluster.")
    existing = find_response(session, round_, participant)
    if existing is not None:
        return existing
    _require_open(round_)
    response = Response(round_id=round_.id, participant_id=participant.id)
    session.add(response)
    session.flush()
    return response


def check_draft(
    draft: ResponseDraft, *, scorecard: Scorecard
) -> tuple[list[dict[str, str]], dict[str, tuple[float | None, str | None]]]:
    """Every problem of a draft ({field, message}, as the form shows them) and the values to store."""
    scale = {"rating_min": scorecard.rating_min, "rating_max": scorecard.rating_max}

    problems: list[dict[str, str]] = []
    values: dict[str, tuple[float | None, str | None]] = {}
    for index, answer in enumerate(draft.answers):
        kpi = scorecard.kpi(answer.kpi_key)
        if kpi is None or not kpi.active or kpi.level != "member":
            problems.append({"field": f"answers[{index}].kpi_key", "message": _l("Not a question of this round.")})
            continue
        try:
            values[answer.kpi_key] = coerce_answer(kpi, answer.value, **scale)
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


def save_draft(
    session: Session,
    response: Response,
    draft: ResponseDraft,
    *,
    scorecard: Scorecard,
    actor: str,
    stored: dict[str, CsfRating] | None = None,
) -> Response:
    """Validate everything first, then write: one bad value rejects the request and changes nothing.

    Changes to a submitted response are corrections: each is written to the audit trail. `stored`: the
    rating rows of the draft's CSFs when the caller has read them already.
    """
    round_ = session.get(Round, response.round_id)
    assert round_ is not None
    _require_open(round_)
    problems, values = check_draft(draft, scorecard=scorecard)
    if problems:
        raise InvalidInput("Some answers could not be saved.", details=problems)

    assert response.id is not None
    correcting = response.status == "submitted"
    now = utcnow()
    # Only the rows this draft touches: an autosave sends one field, and the form has dozens.
    answers: dict[str, Answer] = {}
    if values:
        found = session.exec(_ANSWERS_OF, params={"response_id": response.id, "keys": list(values)})
        answers = {a.kpi_key: a for a in found}
    for kpi_key, (num, text) in values.items():
        row = answers.get(kpi_key)
        if row is not None and (row.value_num, row.value_text) == (num, text):
            continue
        if correcting:
            audit.record(
                session,
                actor=actor,
                action="answer_corrected",
                entity="response",
                entity_id=response.id,
                cluster_id=round_.cluster_id,
                before={"kpi_key": kpi_key, "value_num": row.value_num, "value_text": row.value_text} if row else None,
                after={"kpi_key": kpi_key, "value_num": num, "value_text": text},
            )
        row = row or Answer(response_id=response.id, kpi_key=kpi_key)
        row.value_num, row.value_text, row.updated_at = num, text, now
        session.add(row)

    ratings = stored if stored is not None else stored_ratings(session, response, [r.csf_key for r in draft.ratings])
    for rating in draft.ratings:
        existing = ratings.get(rating.csf_key)
        if existing is not None and (existing.rating, existing.comment) == (rating.rating, rating.comment):
            continue
        if correcting:
            audit.record(
                session,
                actor=actor,
                action="rating_corrected",
                entity="response",
                entity_id=response.id,
                cluster_id=round_.cluster_id,
                before={"csf_key": rating.csf_key, "rating": existing.rating, "comment": existing.comment}
                if existing
                else None,
                after={"csf_key": rating.csf_key, "rating": rating.rating, "comment": rating.comment},
            )
        row_r = existing or CsfRating(response_id=response.id, csf_key=rating.csf_key)
        row_r.rating, row_r.comment, row_r.updated_at = rating.rating, rating.comment, now
        session.add(row_r)

    response.updated_at = now
    session.add(response)
    session.flush()
    return response


def stored_ratings(session: Session, response: Response, csf_keys: list[str]) -> dict[str, CsfRating]:
    if not csf_keys:
        return {}
    rows = session.exec(_RATINGS_OF, params={"response_id": response.id, "keys": csf_keys})
    return {row.csf_key: row for row in rows}


def find_response(session: Session, round_: Round, participant: Participant) -> Response | None:
    return session.exec(_RESPONSE_OF_MEMBER, params={"round_id": round_.id, "participant_id": participant.id}).first()


def reread_round_and_response(session: Session, round_: Round, participant: Participant) -> Response | None:
    """The round and the participant's response read again, in one statement, where a member's writes begin
    after their reads (app.db.begin_writing): a round closed or a response submitted on another device
    meanwhile is seen, in the very objects the request holds."""
    found = session.exec(_ROUND_AND_RESPONSE, params={"round_id": round_.id, "participant_id": participant.id}).first()
    if found is None:
        raise NotFound("No such round.")
    return found[1]


def save_form_fields(
    session: Session, response: Response, fields: dict[str, str], *, scorecard: Scorecard, actor: str
) -> dict[str, str]:
    """Save every valid field a member posted and return a message for each field that is not.

    Unlike the API (all or nothing), a member's form keeps what was right: one mistyped number
    must not cost the other answers of the page.
    """
    stored = stored_ratings(session, response, [name[2:] for name in fields if name.startswith(member_form.CSF_FIELDS)])
    posted = member_form.draft_from_form(fields, stored)
    errors = dict(posted.errors)
    try:
        save_draft(session, response, posted.draft, scorecard=scorecard, actor=actor, stored=stored)
    except InvalidInput as exc:
        for problem in exc.details or []:
            name = posted.field_for(problem["field"])
            if name is not None:
                errors[name] = problem["message"]
        rest = posted.without(set(errors))
        if rest.answers or rest.ratings:
            save_draft(session, response, rest, scorecard=scorecard, actor=actor, stored=stored)
    return errors


def save_device_change(
    session: Session,
    response: Response,
    fields: dict[str, str],
    *,
    client_id: str,
    client_at: datetime,
    scorecard: Scorecard,
    actor: str,
) -> dict[str, str]:
    """Fields a member's device sent under its own change id, perhaps late (queued offline), perhaps again.

    A change id seen before changes nothing. Per field, the edit made last on the member's devices wins
    (their clocks, not arrival order); an older edit arriving late is kept, marked not applied.
    """
    assert response.id is not None
    change_ids = {name: f"{client_id}:{name}" for name in fields}
    known = {"response_id": response.id, "fields": list(fields), "change_ids": list(change_ids.values())}
    seen: set[str] = set()
    latest: dict[str, datetime] = {}
    for change_id, name, at, counts in session.exec(_KNOWN_CHANGES, params=known):
        seen.add(change_id)
        if counts:
            latest[name] = max(latest.get(name, as_utc(at)), as_utc(at))
    fresh = {name: value for name, value in fields.items() if change_ids[name] not in seen}
    winning = {name: value for name, value in fresh.items() if name not in latest or latest[name] <= client_at}
    errors = save_form_fields(session, response, winning, scorecard=scorecard, actor=actor) if winning else {}
    for name, value in fresh.items():
        if name not in errors:
            change = AnswerChange(
                client_id=change_ids[name],
                response_id=response.id,
                field=name,
                value=value,
                client_at=client_at,
                applied=name in winning,
            )
            session.add(change)
            if not change.applied:
                audit.record(
                    session,
                    actor=actor,
                    action="answer_superseded",
                    entity="response",
                    entity_id=response.id,
                    cluster_id=scorecard.cluster_id,
                    after={"field": name, "value": value, "client_at": client_at.isoformat()},
                )
    session.flush()
    return errors


def submit(session: Session, response: Response, *, client_id: str | None, actor: str) -> Response:
    """Idempotent: submitting again (a retry, a double tap) changes nothing."""
    if response.status == "submitted":
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
    audit.record(
        session,
        actor=actor,
        action="response_submitted",
        entity="response",
        entity_id=response.id,
        cluster_id=round_.cluster_id,
        after={"status": "submitted"},
    )
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
