"""Who may invite people and change roles (administrators; agency staff within their programmes), and the role
named in a path, checked against that."""

from typing import Annotated

from fastapi import Depends

from app.auth import policy
from app.auth.deps import PrincipalDep
from app.auth.models import Grant
from app.deps import PathId, SessionDep
from app.errors import Forbidden, NotFound
from app.people import service


async def _people_scope(principal: PrincipalDep) -> set[int] | None:
    return policy.require_people_manager(principal)


# The programmes whose people the principal manages; None for all (an administrator).
PeopleScopeDep = Annotated[set[int] | None, Depends(_people_scope)]


def _grant(grant_id: PathId, session: SessionDep, principal: PrincipalDep) -> Grant:
    """A role outside what the principal manages answers 404, like one that does not exist: ids are not probed."""
    grant = service.get_grant(session, grant_id)
    try:
        policy.require_role_scope(session, principal, grant.programme_id, grant.cluster_id)
    except Forbidden:
        raise NotFound("No such role.") from None
    return grant


GrantDep = Annotated[Grant, Depends(_grant)]
