from typing import Any

from fastapi import APIRouter

from app.clusters import service as cluster_service
from app.deps import ActorDep, SessionDep
from app.rounds import service
from app.rounds.schemas import KpiValueRead, KpiValueSet, RoundCreate, RoundRead, RoundStatusUpdate

router = APIRouter(tags=["rounds"])


@router.get("/clusters/{cluster_id}/rounds", response_model=list[RoundRead])
def list_rounds(cluster_id: int, session: SessionDep) -> Any:
    return service.list_rounds(session, cluster_service.get_cluster(session, cluster_id))


@router.post("/clusters/{cluster_id}/rounds", response_model=RoundRead, status_code=201)
def create_round(cluster_id: int, data: RoundCreate, session: SessionDep) -> Any:
    return service.create_round(session, cluster_service.get_cluster(session, cluster_id), data)


@router.get("/rounds/{round_id}", response_model=RoundRead)
def get_round(round_id: int, session: SessionDep) -> Any:
    return service.get_round(session, round_id)


@router.patch("/rounds/{round_id}", response_model=RoundRead)
def set_round_status(round_id: int, data: RoundStatusUpdate, session: SessionDep, actor: ActorDep) -> Any:
    return service.set_status(session, service.get_round(session, round_id), data.status, actor=actor)


@router.get("/rounds/{round_id}/kpi-values", response_model=list[KpiValueRead])
def list_kpi_values(round_id: int, session: SessionDep) -> Any:
    return service.kpi_values(session, service.get_round(session, round_id))


@router.put("/rounds/{round_id}/kpi-values/{kpi_key}", response_model=KpiValueRead)
def set_kpi_value(round_id: int, kpi_key: str, data: KpiValueSet, session: SessionDep, actor: ActorDep) -> Any:
    return service.set_kpi_value(session, service.get_round(session, round_id), kpi_key, data, actor=actor)
