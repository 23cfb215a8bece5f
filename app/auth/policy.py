"""Every authorisation rule of the service, in one module.

A capability is what a principal may do with one cluster initiative:
- read:      see the cluster, its scorecard and rounds (members need this to answer)
- results:   see scores (members only when the cluster chose to show them)
- responses: see individual members' answers and their history
- manage:    change the cluster, its scorecard, rounds, participants, KPI values
- answer:    fill in one's own self-evaluation

Objects a principal may not see raise NotFound, exactly like objects that do not exist. Rules only: the
dependencies that load an object and check it live next to their domain (app/clusters/deps.py,
app/rounds/deps.py, app/responses/deps.py), the principal's in app/auth/deps.py.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlmodel import Session, col, select

from app.auth.models import Grant
from app.auth.principal import Principal
from app.clusters.models import Cluster, Programme
from app.errors import Forbidden, NotFound, Unauthorized
from app.responses.models import Response

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


def require_benchmark_attributes(principal: Principal, cluster: Cluster) -> None:
    """A cluster's sector, country, region, typology and stage decide its peer groups: they are set by the
    agency staff of its programme or an administrator, never by its facilitator, who could otherwise move
    it from group to group to isolate a peer (docs/disclosure.md, rule 2)."""
    require(principal, cluster, "manage")
    assert principal.user is not None
    if principal.user.is_admin:
        return
    if not any(g.role == "agency" and g.programme_id == cluster.programme_id for g in principal.grants):
        raise Forbidden("Only the programme's agency staff set what decides a cluster's peer groups.")


def people_programmes(principal: Principal) -> set[int] | None:
    """Programmes whose staff roles the principal gives and takes: every one for an administrator (None), their
    own for agency staff, none for anyone else."""
    if principal.user is not None and principal.user.is_admin:
        return None
    return {g.programme_id for g in principal.grants if g.role == "agency" and g.programme_id is not None}


def require_people_manager(principal: Principal) -> set[int] | None:
    require_staff(principal)
    programmes = people_programmes(principal)
    if programmes is not None and not programmes:
        raise Forbidden("Only administrators and agency staff invite people and give roles.")
    return programmes


def require_role_scope(
    session: Session, principal: Principal, programme_id: int | None, cluster_id: int | None
) -> None:
    """A role may be given or taken on a programme, or a cluster of one, that the principal's agency role covers."""
    programmes = require_people_manager(principal)
    if programmes is None:
        return
    if cluster_id is not None:
        cluster = session.get(Cluster, cluster_id)
        programme_id = cluster.programme_id if cluster is not None else None
    if programme_id not in programmes:
        raise NotFound("No such programme or cluster initiative.")


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


def require_token_owner(principal: Principal) -> None:
    """API tokens are looked up among the caller's own: a member has none, so any token id is not found."""
    if not principal.is_authenticated:
        raise Unauthorized("Please log in.")
    if principal.user is None:
        raise NotFound("No such API token.")


def require_staff_on(principal: Principal, cluster: Cluster, capability: Capability) -> None:
    """The facilitator's pages show the whole cluster; a member has their own pages instead."""
    require(principal, cluster, capability)
    if principal.user is None:
        raise NotFound("No such cluster.")


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


@dataclass(frozen=True)
class BenchmarkViewer:
    """Who is looking at peer aggregates, as the disclosure rules see them (docs/disclosure.md, rules 3 and 5).

    - exclude: every cluster the person behind this session can see otherwise; never among their peers.
    - owns: the clusters this session can open a comparison for (the differencing control runs over the groups
      around all of them together, so holding several opens no extra way in).
    - audience: whom the release history records what is shown here for; audiences: every audience the person
      behind this session can also act as, whose history decides what may be shown next.
    """

    exclude: frozenset[int]
    owns: frozenset[int]
    audience: str
    audiences: frozenset[str]


def _grant_clusters(session: Session, grants: Sequence[Grant], *, roles: Iterable[str]) -> set[int]:
    """The clusters these grants (of the given roles) reach: granted clusters and the clusters of granted programmes."""
    chosen = [g for g in grants if g.role in roles]
    ids = {g.cluster_id for g in chosen if g.cluster_id is not None}
    programmes = {g.programme_id for g in chosen if g.programme_id is not None}
    if programmes:
        ids |= {i for i in session.exec(select(Cluster.id).where(col(Cluster.programme_id).in_(programmes))) if i}
    return {i for i in ids if i is not None}


# Roles whose holders can issue member links and join codes for a cluster, and so open a member's session.
MEMBER_SESSION_ROLES = ("facilitator", "agency")


def benchmark_viewer(session: Session, principal: Principal) -> BenchmarkViewer:
    """A staff user excludes every cluster of every grant they hold and acts as themselves and as the members of
    each cluster they manage. A member session of cluster C may be held by anyone who can issue C's links: it
    excludes everything those people see, and acts as each of them (administrators see everything by name and
    are no one's peers)."""
    if principal.participant is not None:
        cluster_id = principal.participant.cluster_id
        cluster = session.get(Cluster, cluster_id)
        programme_id = cluster.programme_id if cluster is not None else None
        holders = select(Grant.user_id).where(
            ((Grant.role == "facilitator") & (Grant.cluster_id == cluster_id))
            | ((Grant.role == "agency") & (Grant.programme_id == programme_id))
        )
        grants = list(session.exec(select(Grant).where(col(Grant.user_id).in_(holders))))
        exclude = {cluster_id} | _grant_clusters(session, grants, roles=STAFF_CAPABILITIES)
        audiences = {f"user:{g.user_id}" for g in grants}
        for user_id in {g.user_id for g in grants}:
            mine = [g for g in grants if g.user_id == user_id]
            audiences |= {f"members:{c}" for c in _grant_clusters(session, mine, roles=MEMBER_SESSION_ROLES)}
        audience = f"members:{cluster_id}"
        return BenchmarkViewer(frozenset(exclude), frozenset({cluster_id}), audience, frozenset(audiences | {audience}))
    assert principal.user is not None
    seen = _grant_clusters(session, principal.grants, roles=STAFF_CAPABILITIES)
    managed = _grant_clusters(session, principal.grants, roles=MEMBER_SESSION_ROLES)
    audience = f"user:{principal.user.id}"
    return BenchmarkViewer(
        frozenset(seen), frozenset(seen), audience, frozenset({audience} | {f"members:{c}" for c in managed})
    )
