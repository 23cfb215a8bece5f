from typing import Any

from fastapi import APIRouter, status

from app.auth import policy
from app.auth.deps import AdminDep, PrincipalDep, StaffDep
from app.clusters import service
from app.clusters.deps import cluster_for, programme_for
from app.clusters.models import Cluster, Programme
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
from app.deps import SessionDep

router = APIRouter(tags=["programmes and clusters"])


@router.get("/programmes", response_model=list[ProgrammeRead])
def list_programmes(session: SessionDep, principal: StaffDep) -> Any:
    return policy.visible_programmes(session, principal)


@router.post("/programmes", response_model=ProgrammeRead, status_code=status.HTTP_201_CREATED)
def create_programme(data: ProgrammeCreate, session: SessionDep, _admin: AdminDep) -> Any:
    return service.create_programme(session, data)


@router.get("/programmes/{programme_id}", response_model=ProgrammeRead)
def get_programme(programme: Programme = programme_for(agency=False)) -> Any:
    return programme


@router.post("/programmes/{programme_id}/clusters", response_model=ClusterRead, status_code=201)
def create_cluster(data: ClusterCreate, session: SessionDep, programme: Programme = programme_for(agency=True)) -> Any:
    return service.create_cluster(session, programme, data)


@router.get("/clusters", response_model=list[ClusterRead])
def list_clusters(session: SessionDep, principal: StaffDep, programme_id: int | None = None) -> Any:
    clusters = policy.visible_clusters(session, principal)
    return [c for c in clusters if programme_id is None or c.programme_id == programme_id]


@router.get("/clusters/{cluster_id}", response_model=ClusterRead)
def get_cluster(cluster: Cluster = cluster_for("read")) -> Any:
    return cluster


@router.patch("/clusters/{cluster_id}", response_model=ClusterRead)
def update_cluster(
    data: ClusterUpdate, session: SessionDep, principal: PrincipalDep, cluster: Cluster = cluster_for("manage")
) -> Any:
    if data.model_fields_set & set(service.BENCHMARK_ATTRIBUTES):
        policy.require_benchmark_attributes(principal, cluster)
    return service.update_cluster(session, cluster, data, actor=principal.actor)


@router.get("/clusters/{cluster_id}/scorecard", response_model=Scorecard)
def get_scorecard(session: SessionDep, lang: str | None = None, cluster: Cluster = cluster_for("read")) -> Any:
    return service.scorecard(session, cluster, lang=lang)


@router.patch("/clusters/{cluster_id}/scorecard/kpis/{kpi_key}", response_model=Scorecard)
def update_scorecard_kpi(
    kpi_key: str,
    data: KpiSettingsUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    cluster: Cluster = cluster_for("manage"),
) -> Any:
    service.update_kpi_settings(session, cluster, kpi_key, data, actor=principal.actor)
    return service.scorecard(session, cluster)


@router.post("/clusters/{cluster_id}/scorecard/kpis", response_model=Scorecard, status_code=201)
def add_cluster_kpi(
    data: CustomKpiCreate, session: SessionDep, principal: PrincipalDep, cluster: Cluster = cluster_for("manage")
) -> Any:
    service.add_custom_kpi(session, cluster, data, actor=principal.actor)
    return service.scorecard(session, cluster)


@router.get("/clusters/{cluster_id}/participants", response_model=list[ParticipantRead])
def list_participants(session: SessionDep, cluster: Cluster = cluster_for("manage")) -> Any:
    return service.list_participants(session, cluster)


@router.post("/clusters/{cluster_id}/participants", response_model=ParticipantRead, status_code=201)
def add_participant(data: ParticipantCreate, session: SessionDep, cluster: Cluster = cluster_for("manage")) -> Any:
    return service.add_participant(session, cluster, data)
