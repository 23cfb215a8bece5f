"""Dependencies that load a round named in the path and check the principal's capability on its cluster
(rules in app/auth/policy.py)."""

from typing import Any

from fastapi import Depends
from sqlmodel import Session

from app.auth import policy
from app.auth.deps import PrincipalDep
from app.auth.policy import Capability
from app.auth.principal import Principal
from app.clusters.models import Cluster
from app.deps import PathId, SessionDep
from app.rounds import service
from app.rounds.models import Round


def checked_round(
    session: Session, principal: Principal, round_id: int, capability: Capability, *, staff: bool = False
) -> tuple[Round, Cluster]:
    """The round and its cluster, for a dependency that needs both (one query)."""
    round_, cluster = service.get_round_with_cluster(session, round_id)
    (policy.require_staff_on if staff else policy.require)(principal, cluster, capability)
    return round_, cluster


def round_for(capability: Capability, *, staff: bool = False) -> Any:
    """The round of `round_id`; `staff`: for the facilitator's pages, which members never see."""

    def dependency(round_id: PathId, session: SessionDep, principal: PrincipalDep) -> Round:
        return checked_round(session, principal, round_id, capability, staff=staff)[0]

    return Depends(dependency)
