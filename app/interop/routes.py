from fastapi import APIRouter
from fastapi.responses import Response

from app.auth.policy import round_for
from app.clusters import service as clusters
from app.deps import SessionDep
from app.interop import service
from app.rounds.models import Round

router = APIRouter(tags=["interop"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/rounds/{round_id}/xlsform", response_class=Response)
def download_xlsform(session: SessionDep, round_: Round = round_for("read")) -> Response:
    """An XLSForm for ODK Collect, KoboToolbox or Enketo asking the round's member questions."""
    cluster = clusters.get_cluster(session, round_.cluster_id)
    form = service.xlsform(session, cluster, round_)
    filename = f"{form.settings['form_id']}.xlsx"
    return Response(
        form.to_xlsx(), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
