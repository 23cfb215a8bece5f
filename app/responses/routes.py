from typing import Any

from fastapi import APIRouter
from fastapi import Response as HttpResponse

from app.auth import policy
from app.auth.deps import PrincipalDep
from app.clusters import service as cluster_service
from app.deps import SessionDep
from app.errors import NotFound
from app.i18n.routes import FormatsDep
from app.responses import service
from app.responses.deps import response_for
from app.responses.models import Response
from app.responses.schemas import AuditEntry, ResponseChange, ResponseCreate, ResponseRead, SubmitRequest
from app.rounds.deps import round_for
from app.rounds.models import Round

router = APIRouter(tags=["responses"])


@router.post("/rounds/{round_id}/responses", response_model=ResponseRead, status_code=201)
def create_response(
    data: ResponseCreate,
    session: SessionDep,
    principal: PrincipalDep,
    http: HttpResponse,
    formats: FormatsDep,
    round_: Round = round_for("read"),
) -> Any:
    """Start (or continue, or correct) a participant's response; a repeated client_id with the same content
    returns the response unchanged (200), with other content it is refused (409)."""
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    policy.may_answer_for(principal, cluster, data.participant_id)
    change = service.draft_change(data, client_id=data.client_id, made_at=data.changed_at, submit=data.submit)
    if (replayed := service.find_change(session, change)) is not None:
        if replayed.participant_id != data.participant_id or replayed.round_id != round_.id:
            raise NotFound("No such response.")
        http.status_code = 200
        return service.read(session, replayed)
    participant = cluster_service.get_participant(session, data.participant_id)
    response = service.start_response(session, round_, participant)
    if data.answers or data.ratings or data.client_id:
        scorecard = service.scorecard_for(session, response)
        service.save_change(
            session, response, data, change=change, scorecard=scorecard, actor=principal.actor, locale=formats
        )
    if data.submit:
        service.submit(session, response, client_id=data.client_id, actor=principal.actor)
    return service.read(session, response)


@router.get("/rounds/{round_id}/responses", response_model=list[ResponseRead])
def list_responses(session: SessionDep, round_: Round = round_for("responses")) -> Any:
    return [service.read(session, response) for response in service.list_for_round(session, round_)]


@router.get("/responses/{response_id}", response_model=ResponseRead)
def get_response(session: SessionDep, response: Response = response_for(write=False)) -> Any:
    return service.read(session, response)


@router.put("/responses/{response_id}", response_model=ResponseRead)
def save_draft(
    data: ResponseChange,
    session: SessionDep,
    principal: PrincipalDep,
    formats: FormatsDep,
    response: Response = response_for(write=True),
) -> Any:
    """Answers, ratings and comments given or corrected; none is applied if one is not valid (422)."""
    scorecard = service.scorecard_for(session, response)
    change = service.draft_change(data, client_id=data.client_id, made_at=data.changed_at)
    service.save_change(
        session, response, data, change=change, scorecard=scorecard, actor=principal.actor, locale=formats
    )
    return service.read(session, response)


@router.post("/responses/{response_id}/submit", response_model=ResponseRead)
def submit_response(
    data: SubmitRequest, session: SessionDep, principal: PrincipalDep, response: Response = response_for(write=True)
) -> Any:
    """Idempotent: submitting again changes nothing; a client_id is one change, like any other."""
    change = service.Change(data.client_id, None, "submit")
    if service.find_change(session, change, response_id=response.id) is None:
        service.submit(session, response, client_id=data.client_id, actor=principal.actor)
        service.register_change(session, response, change)
    return service.read(session, response)


@router.get("/responses/{response_id}/history", response_model=list[AuditEntry])
def response_history(session: SessionDep, response: Response = response_for(write=False)) -> Any:
    return service.history(session, response)
