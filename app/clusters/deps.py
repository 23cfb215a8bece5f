"""Dependencies that load a programme, cluster or participant named in the path and check the principal's
capability on it (rules in app/auth/policy.py)."""

from typing import Any

from fastapi import Depends

from app.auth import policy
from app.auth.deps import PrincipalDep
from app.auth.policy import Capability
from app.clusters import service
from app.clusters.models import Cluster, Participant, Programme
from app.deps import PathId, SessionDep


def cluster_for(capability: Capability, *, staff: bool = False) -> Any:
    """The cluster of `cluster_id`; `staff`: for the facilitator's pages, which members never see."""
    check = policy.require_staff_on if staff else policy.require

    def dependency(cluster_id: PathId, session: SessionDep, principal: PrincipalDep) -> Cluster:
        cluster = service.get_cluster(session, cluster_id)
        check(principal, cluster, capability)
        return cluster

    return Depends(dependency)


def participant_for(capability: Capability) -> Any:
    def dependency(participant_id: PathId, session: SessionDep, principal: PrincipalDep) -> Participant:
        participant = service.get_participant(session, participant_id)
        policy.require(principal, service.get_cluster(session, participant.cluster_id), capability)
        return participant

    return Depends(dependency)


def programme_for(*, agency: bool) -> Any:
    def dependency(programme_id: PathId, session: SessionDep, principal: PrincipalDep) -> Programme:
        programme = service.get_programme(session, programme_id)
        (policy.require_programme_agency if agency else policy.require_programme)(principal, programme)
        return programme

    return Depends(dependency)
