from typing import Any

from fastapi import APIRouter, status

from app.clusters import service
from app.clusters.schemas import (
    ClusterCreate,
    ClusterRead,
    ClusterUpdate,
    CustomKpiCreate,
    KpiSettingsUpdate,
    ParticipantCreate,
    ParticipantRead,
    ProgrammeCreate,
    ProgrammeRead,
    Scorecard,
)
from app.deps import ActorDep, SessionDep

router = APIRouter(tags=["programmes and clusters"])


@router.get("/programmes", response_model=list[ProgrammeRead])
def list_programmes(session: SessionDep) -> Any:
    return service.list_programmes(session)


@router.post("/programmes", response_model=ProgrammeRead, status_code=status.HTTP_201_CREATED)
def create_programme(data: ProgrammeCreate, session: SessionDep) -> Any:
    return service.create_programme(session, data)


@router.get("/programmes/{programme_id}", response_model=ProgrammeRead)
def get_programme(programme_id: int, session: SessionDep) -> Any:
    return service.get_programme(session, programme_id)


@router.get("/clusters", response_model=list[ClusterRead])
def list_clusters(session: SessionDep, programme_id: int | None = None) -> Any:
    return service.list_clusters(session, programme_id=programme_id)


@router.post("/clusters", response_model=ClusterRead, status_code=status.HTTP_201_CREATED)
def create_cluster(data: ClusterCreate, session: SessionDep) -> Any:
    return service.create_cluster(session, data)


@router.get("/clusters/{cluster_id}", response_model=ClusterRead)
def get_cluster(cluster_id: int, session: SessionDep) -> Any:
    return service.get_cluster(session, cluster_id)


@router.patch("/clusters/{cluster_id}", response_model=ClusterRead)
def update_cluster(cluster_id: int, data: ClusterUpdate, session: SessionDep, actor: ActorDep) -> Any:
    return service.update_cluster(session, service.get_cluster(session, cluster_id), data, actor=actor)


@router.get("/clusters/{cluster_id}/scorecard", response_model=Scorecard)
def get_scorecard(cluster_id: int, session: SessionDep, lang: str | None = None) -> Any:
    return service.scorecard(session, service.get_cluster(session, cluster_id), lang=lang)


@router.patch("/clusters/{cluster_id}/scorecard/kpis/{kpi_key}", response_model=Scorecard)
def update_scorecard_kpi(
    cluster_id: int, kpi_key: str, data: KpiSettingsUpdate, session: SessionDep, actor: ActorDep
) -> Any:
    cluster = service.get_cluster(session, cluster_id)
    service.update_kpi_settings(session, cluster, kpi_key, data, actor=actor)
    return service.scorecard(session, cluster)


@router.post("/clusters/{cluster_id}/scorecard/kpis", response_model=Scorecard, status_code=201)
def add_cluster_kpi(cluster_id: int, data: CustomKpiCreate, session: SessionDep, actor: ActorDep) -> Any:
    cluster = service.get_cluster(session, cluster_id)
    service.add_custom_kpi(session, cluster, data, actor=actor)
    return service.scorecard(session, cluster)


@router.get("/clusters/{cluster_id}/participants", response_model=list[ParticipantRead])
def list_participants(cluster_id: int, session: SessionDep) -> Any:
    return service.list_participants(session, service.get_cluster(session, cluster_id))


@router.post("/clusters/{cluster_id}/participants", response_model=ParticipantRead, status_code=201)
def add_participant(cluster_id: int, data: ParticipantCreate, session: SessionDep) -> Any:
    return service.add_participant(session, service.get_cluster(session, cluster_id), data)
