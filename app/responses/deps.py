"""The dependency that loads a response named in the path and checks who may read or change it (rules in
app/auth/policy.py)."""

from typing import Any

from fastapi import Depends

from app.auth import policy
from app.auth.deps import PrincipalDep
from app.deps import PathId, SessionDep
from app.responses import service
from app.responses.models import Response
from app.rounds import service as round_service


def response_for(*, write: bool) -> Any:
    def dependency(response_id: PathId, session: SessionDep, principal: PrincipalDep) -> Response:
        response = service.get_response(session, response_id)
        _round, cluster = round_service.get_round_with_cluster(session, response.round_id)
        policy.response_access(principal, cluster, response, write=write)
        return response

    return Depends(dependency)
