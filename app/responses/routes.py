from typing import Any

from fastapi import APIRouter
from fastapi import Response as HttpResponse

from app.clusters import service as cluster_service
from app.deps import ActorDep, SessionDep
from app.responses import service
from app.responses.schemas import AuditEntry, ResponseCreate, ResponseDraft, ResponseRead, SubmitRequest
from app.rounds import service as round_service

router = APIRouter(tags=["responses"])


@router.post("/rounds/{round_id}/responses", response_model=ResponseRead, status_code=201)
def create_response(
    round_id: int, data: ResponseCreate, session: SessionDep, actor: ActorDep, http: HttpResponse
) -> Any:
    """Start (or continue) a participant's response; a repeated client_id returns the first result unchanged."""
    if data.client_id is not None and (replayed := service.find_by_client_id(session, data.client_id)):
        http.status_code = 200
        return service.read(session, replayed)
    round_ = round_service.get_round(session, round_id)
    participant = cluster_service.get_participant(session, data.participant_id)
    response = service.start_response(session, round_, participant)
    draft = ResponseDraft(answers=data.answers, ratings=data.ratings)
    if draft.answers or draft.ratings:
        service.save_draft(session, response, draft, scorecard=service.scorecard_for(session, response), actor=actor)
    if data.submit:
        service.submit(session, response, client_id=data.client_id, actor=actor)
    return service.read(session, response)


@router.get("/rounds/{round_id}/responses", response_model=list[ResponseRead])
def list_responses(round_id: int, session: SessionDep) -> Any:
    round_ = round_service.get_round(session, round_id)
    return [service.read(session, response) for response in service.list_for_round(session, round_)]


@router.get("/responses/{response_id}", response_model=ResponseRead)
def get_response(response_id: int, session: SessionDep) -> Any:
    return service.read(session, service.get_response(session, response_id))


@router.put("/responses/{response_id}", response_model=ResponseRead)
def save_draft(response_id: int, draft: ResponseDraft, session: SessionDep, actor: ActorDep) -> Any:
    response = service.get_response(session, response_id)
    service.save_draft(session, response, draft, scorecard=service.scorecard_for(session, response), actor=actor)
    return service.read(session, response)


@router.post("/responses/{response_id}/submit", response_model=ResponseRead)
def submit_response(response_id: int, data: SubmitRequest, session: SessionDep, actor: ActorDep) -> Any:
    response = service.get_response(session, response_id)
    service.submit(session, response, client_id=data.client_id, actor=actor)
    return service.read(session, response)


@router.get("/responses/{response_id}/history", response_model=list[AuditEntry])
def response_history(response_id: int, session: SessionDep) -> Any:
    return service.history(session, service.get_response(session, response_id))
