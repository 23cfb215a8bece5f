from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.auth.deps import PrincipalDep
from app.auth.policy import people_programmes, visible_clusters
from app.clusters import service as cluster_service
from app.deps import SessionDep
from app.rounds import service as round_service
from app.web import render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, principal: PrincipalDep) -> HTMLResponse:
    """Staff see the initiatives they may see; a member sees their cluster and its open round."""
    context: dict[str, object] = {"clusters": visible_clusters(session, principal)}
    if principal.user is not None:
        context["manages_people"] = people_programmes(principal) != set()
    if principal.participant is not None:
        cluster = cluster_service.get_cluster(session, principal.participant.cluster_id)
        context["member_cluster"] = cluster
        rounds = round_service.list_rounds(session, cluster)
        context["open_rounds"] = [r for r in rounds if r.status == "open"]
        context["coming_rounds"] = [r for r in rounds if r.status == "draft" and r.opens_on is not None]
    return render(request, "home.html", context)
