"""Every authorisation rule of the service, in one module.

A capability is what a principal may do with one cluster initiative:
- read:      see the cluster, its scorecard and rounds (members need this to answer)
- results:   see scores (members only when the cluster chose to show them)
- responses: see individual members' answers and their history
- manage:    change the cluster, its scorecard, rounds, participants, KPI values
- answer:    fill in one's own self-evaluation

Objects a principal may not see raise NotFound, exactly like objects that do not exist.
"""

from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from sqlmodel import Session, col, select

from app.auth.principal import Principal
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant, Programme
from app.deps import PathId, SessionDep
from app.errors import Forbidden, NotFound, Unauthorized
from app.responses import service as response_service
from app.responses.models import Response
from app.rounds import service as round_service
from app.rounds.models import Round

Capability = Literal["read", "results", "responses", "manage", "answer"]

STAFF_CAPABILITIES: dict[str, set[str]] = {
    "agency": {"read", "results", "responses", "manage"},
    "facilitator": {"read", "results", "responses", "manage"},
    "observer": {"read", "results"},
}


def cluster_capabilities(principal: Principal, cluster: Cluster) -> set[str]:
    if principal.user is not None:
        if principal.user.is_admin:
            return {"read", "results", "responses", "manage"}
        capabilities: set[str] = set()
        for grant in principal.grants:
            if grant.cluster_id == cluster.id or grant.programme_id == cluster.programme_id:
                capabilities |= STAFF_CAPABILITIES[grant.role]
        return capabilities
    if principal.participant is not None and principal.participant.cluster_id == cluster.id:
        return {"read", "answer"} | ({"results"} if cluster.shows_members_results else set())
    return set()


def require(principal: Principal, cluster: Cluster, capability: Capability) -> None:
    if not principal.is_authenticated:
        raise Unauthorized("Please log in.")
    if capability not in cluster_capabilities(principal, cluster):
        raise NotFound("No such cluster.")


def visible_programme_ids(principal: Principal) -> set[int] | None:
    """None means all (an admin)."""
    if principal.user is not None and principal.user.is_admin:
        return None
    return {g.programme_id for g in principal.grants if g.programme_id is not None}


def visible_clusters(session: Session, principal: Principal) -> list[Cluster]:
    if principal.user is None:
        return []
    programmes = visible_programme_ids(principal)
    statement = select(Cluster).order_by(col(Cluster.id))
    if programmes is not None:
        cluster_ids = {g.cluster_id for g in principal.grants if g.cluster_id is not None}
        statement = statement.where(col(Cluster.programme_id).in_(programmes) | col(Cluster.id).in_(cluster_ids))
    return list(session.exec(statement))


def visible_programmes(session: Session, principal: Principal) -> list[Programme]:
    programmes = visible_programme_ids(principal)
    statement = select(Programme).order_by(col(Programme.id))
    if programmes is not None:
        statement = statement.where(col(Programme.id).in_(programmes))
    return list(session.exec(statement))


def require_programme(principal: Principal, programme: Programme) -> None:
    """Agency staff (and admins) act on a programme; observers of a programme may read it."""
    if not principal.is_authenticated:
        raise Unauthorized("Please log in.")
    if principal.user is None:
        raise NotFound("No such programme.")
    programmes = visible_programme_ids(principal)
    if programmes is not None and programme.id not in programmes:
        raise NotFound("No such programme.")


def require_programme_agency(principal: Principal, programme: Programme) -> None:
    require_programme(principal, programme)
    assert principal.user is not None
    if principal.user.is_admin:
        return
    if not any(g.role == "agency" and g.programme_id == programme.id for g in principal.grants):
        raise Forbidden("Only the programme's agency staff can do this.")


def require_staff(principal: Principal) -> None:
    if not principal.is_authenticated:
        raise Unauthorized("Please log in.")
    if principal.user is None:
        raise Forbidden("This is for programme staff and facilitators.")


def require_admin(principal: Principal) -> None:
    require_staff(principal)
    assert principal.user is not None
    if not principal.user.is_admin:
        raise Forbidden("Only administrators can do this.")


def may_answer_for(principal: Principal, cluster: Cluster, participant_id: int) -> None:
    """Members answer only for themselves; facilitators may enter a response on a member's behalf."""
    capabilities = cluster_capabilities(principal, cluster)
    if "manage" in capabilities:
        return
    if "answer" in capabilities and principal.participant is not None and principal.participant.id == participant_id:
        return
    raise NotFound("No such participant in this cluster.")


def response_access(principal: Principal, cluster: Cluster, response: Response, *, write: bool) -> None:
    capabilities = cluster_capabilities(principal, cluster)
    own = principal.participant is not None and principal.participant.id == response.participant_id
    if own and "answer" in capabilities:
        return
    if ("manage" if write else "responses") in capabilities:
        return
    if not principal.is_authenticated:
        raise Unauthorized("Please log in.")
    raise NotFound("No such response.")


# --- FastAPI dependencies: a route names the capability it needs and receives the checked object ----------


async def get_principal(request: Request) -> Principal:
    """Async, like every dependency that touches no database: a plain function would cost each request a
    trip through the thread pool (about 0.15 ms of CPU here, bench/load.py)."""
    principal: Principal = request.state.principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def cluster_for(capability: Capability) -> Any:
    def dependency(cluster_id: PathId, session: SessionDep, principal: PrincipalDep) -> Cluster:
        cluster = cluster_service.get_cluster(session, cluster_id)
        require(principal, cluster, capability)
        return cluster

    return Depends(dependency)


def checked_round(
    session: Session, principal: Principal, round_id: int, capability: Capability
) -> tuple[Round, Cluster]:
    """For a dependency that needs the cluster too (keeping it also keeps it in the session's identity map,
    which holds rows only while something refers to them: a later get_cluster then costs no query)."""
    round_, cluster = round_service.get_round_with_cluster(session, round_id)
    require(principal, cluster, capability)
    return round_, cluster


def round_for(capability: Capability) -> Any:
    def dependency(round_id: PathId, session: SessionDep, principal: PrincipalDep) -> Round:
        return checked_round(session, principal, round_id, capability)[0]

    return Depends(dependency)


def response_for(*, write: bool) -> Any:
    def dependency(response_id: PathId, session: SessionDep, principal: PrincipalDep) -> Response:
        response = response_service.get_response(session, response_id)
        _round, cluster = round_service.get_round_with_cluster(session, response.round_id)
        response_access(principal, cluster, response, write=write)
        return response

    return Depends(dependency)


def participant_for(capability: Capability) -> Any:
    def dependency(participant_id: PathId, session: SessionDep, principal: PrincipalDep) -> Participant:
        participant = cluster_service.get_participant(session, participant_id)
        require(principal, cluster_service.get_cluster(session, participant.cluster_id), capability)
        return participant

    return Depends(dependency)


def programme_for(*, agency: bool) -> Any:
    def dependency(programme_id: PathId, session: SessionDep, principal: PrincipalDep) -> Programme:
        programme = cluster_service.get_programme(session, programme_id)
        (require_programme_agency if agency else require_programme)(principal, programme)
        return programme

    return Depends(dependency)


async def _staff(principal: PrincipalDep) -> Principal:
    require_staff(principal)
    return principal


async def _admin(principal: PrincipalDep) -> Principal:
    require_admin(principal)
    return principal


StaffDep = Annotated[Principal, Depends(_staff)]
AdminDep = Annotated[Principal, Depends(_admin)]


# --- facilitator pages: staff only, even for capabilities members share (read, results) ------------


def require_staff_on(principal: Principal, cluster: Cluster, capability: Capability) -> None:
    """The facilitator's pages show the whole cluster; a member has their own pages instead."""
    require(principal, cluster, capability)
    if principal.user is None:
        raise NotFound("No such cluster.")


def staff_cluster_for(capability: Capability) -> Any:
    def dependency(cluster_id: int, session: SessionDep, principal: PrincipalDep) -> Cluster:
        cluster = cluster_service.get_cluster(session, cluster_id)
        require_staff_on(principal, cluster, capability)
        return cluster

    return Depends(dependency)


def staff_round_for(capability: Capability) -> Any:
    def dependency(round_id: int, session: SessionDep, principal: PrincipalDep) -> Round:
        round_, cluster = round_service.get_round_with_cluster(session, round_id)
        require_staff_on(principal, cluster, capability)
        return round_

    return Depends(dependency)


# --- benchmarks (issue 6): who sees peers by name, and whose data a viewer already sees ---------------


def benchmark_named_programmes(principal: Principal) -> set[int] | None:
    """Programmes whose sharing clusters the principal sees by name in benchmarks.

    Agency staff see names within their own programmes, administrators everywhere (None); everyone
    else (facilitators, observers, members) gets an empty set: peers only as aggregates.
    """
    if principal.user is None:
        return set()
    if principal.user.is_admin:
        return None
    return {g.programme_id for g in principal.grants if g.role == "agency" and g.programme_id is not None}


def sees_benchmark_names(principal: Principal, programme_id: int) -> bool:
    named = benchmark_named_programmes(principal)
    return named is None or programme_id in named


def require_benchmark_agency(principal: Principal) -> None:
    """The cross-cluster views (heat map, distributions, observatory) are for agency staff and admins."""
    require_staff(principal)
    if benchmark_named_programmes(principal) == set():
        raise Forbidden("Comparisons across clusters by name are for the programme's agency staff.")


def benchmark_own_clusters(session: Session, principal: Principal) -> set[int]:
    """Clusters whose results the principal sees directly. They never count among the peers shown to
    them, and the differencing control runs over the peer groups of all of them together, so holding
    several clusters (a facilitator of two, a programme observer) opens no extra way in."""
    if principal.participant is not None:
        return {principal.participant.cluster_id}
    return {c.id for c in visible_clusters(session, principal) if c.id is not None}
