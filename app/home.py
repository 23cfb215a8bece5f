from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.auth.policy import PrincipalDep, visible_clusters
from app.clusters import service as cluster_service
from app.db import database_work
from app.deps import SessionDep
from app.rounds import service as round_service
from app.web import render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
@database_work
def home(request: Request, session: SessionDep, principal: PrincipalDep) -> HTMLResponse:
    """Staff see the initiatives they may see; a member sees their cluster and its open round."""
    context: dict[str, object] = {"clusters": visible_clusters(session, principal)}
    if principal.participant is not None:
        cluster = cluster_service.get_cluster(session, principal.participant.cluster_id)
        context["member_cluster"] = cluster
        context["open_rounds"] = [r for r in round_service.list_rounds(session, cluster) if r.status == "open"]
    return render(request, "home.html", context)
