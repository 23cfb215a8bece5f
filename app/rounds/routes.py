from typing import Any

from fastapi import APIRouter

from app.auth.deps import PrincipalDep
from app.clusters.deps import cluster_for
from app.clusters.models import Cluster
from app.deps import SessionDep
from app.rounds import service
from app.rounds.deps import round_for
from app.rounds.models import Round
from app.rounds.schemas import KpiValueRead, KpiValueSet, RoundCreate, RoundRead, RoundStatusUpdate

router = APIRouter(tags=["rounds"])


@router.get("/clusters/{cluster_id}/rounds", response_model=list[RoundRead])
def list_rounds(session: SessionDep, cluster: Cluster = cluster_for("read")) -> Any:
    return service.list_rounds(session, cluster)


@router.post("/clusters/{cluster_id}/rounds", response_model=RoundRead, status_code=201)
def create_round(data: RoundCreate, session: SessionDep, cluster: Cluster = cluster_for("manage")) -> Any:
    return service.create_round(session, cluster, data)


@router.get("/rounds/{round_id}", response_model=RoundRead)
def get_round(round_: Round = round_for("read")) -> Any:
    return round_


@router.patch("/rounds/{round_id}", response_model=RoundRead)
def set_round_status(
    data: RoundStatusUpdate, session: SessionDep, principal: PrincipalDep, round_: Round = round_for("manage")
) -> Any:
    return service.set_status(session, round_, data.status, actor=principal.actor)


@router.get("/rounds/{round_id}/kpi-values", response_model=list[KpiValueRead])
def list_kpi_values(session: SessionDep, round_: Round = round_for("results")) -> Any:
    return service.kpi_values(session, round_)


@router.put("/rounds/{round_id}/kpi-values/{kpi_key}", response_model=KpiValueRead)
def set_kpi_value(
    kpi_key: str,
    data: KpiValueSet,
    session: SessionDep,
    principal: PrincipalDep,
    round_: Round = round_for("manage"),
) -> Any:
    return service.set_kpi_value(session, round_, kpi_key, data, actor=principal.actor)
