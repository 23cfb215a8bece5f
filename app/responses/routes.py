from typing import Any

from fastapi import APIRouter
from fastapi import Response as HttpResponse

from app.auth import policy
from app.auth.policy import PrincipalDep, response_for, round_for
from app.clusters import service as cluster_service
from app.deps import SessionDep
from app.errors import NotFound
from app.responses import service
from app.responses.models import Response
from app.responses.schemas import AuditEntry, ResponseCreate, ResponseDraft, ResponseRead, SubmitRequest
from app.rounds.models import Round

router = APIRouter(tags=["responses"])


@router.post("/rounds/{round_id}/responses", response_model=ResponseRead, status_code=201)
def create_response(
    data: ResponseCreate,
    session: SessionDep,
    principal: PrincipalDep,
    http: HttpResponse,
    round_: Round = round_for("read"),
) -> Any:
    """Start (or continue) a participant's response; a repeated client_id returns the first result unchanged."""
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    policy.may_answer_for(principal, cluster, data.participant_id)
    if data.client_id is not None and (replayed := service.find_by_client_id(session, data.client_id)):
        if replayed.participant_id != data.participant_id or replayed.round_id != round_.id:
            raise NotFound("No such response.")
        http.status_code = 200
        return service.read(session, replayed)
    participant = cluster_service.get_participant(session, data.participant_id)
    response = service.start_response(session, round_, participant)
    draft = ResponseDraft(answers=data.answers, ratings=data.ratings)
    if draft.answers or draft.ratings:
        scorecard = service.scorecard_for(session, response)
        service.save_draft(session, response, draft, scorecard=scorecard, actor=principal.actor)
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
    draft: ResponseDraft, session: SessionDep, principal: PrincipalDep, response: Response = response_for(write=True)
) -> Any:
    scorecard = service.scorecard_for(session, response)
    service.save_draft(session, response, draft, scorecard=scorecard, actor=principal.actor)
    return service.read(session, response)


@router.post("/responses/{response_id}/submit", response_model=ResponseRead)
def submit_response(
    data: SubmitRequest, session: SessionDep, principal: PrincipalDep, response: Response = response_for(write=True)
) -> Any:
    service.submit(session, response, client_id=data.client_id, actor=principal.actor)
    return service.read(session, response)


@router.get("/responses/{response_id}/history", response_model=list[AuditEntry])
def response_history(session: SessionDep, response: Response = response_for(write=False)) -> Any:
    return service.history(session, response)
