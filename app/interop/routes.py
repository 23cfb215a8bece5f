from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, UploadFile
from fastapi.responses import Response

from app.auth.deps import PrincipalDep
from app.clusters import service as clusters
from app.deps import MAX_ID, PathId, SessionDep
from app.errors import InvalidInput, NotFound
from app.i18n.routes import formats_of, locale_of
from app.i18n.translation import Msg, translated
from app.interop import service
from app.interop.deps import DeviceDep, SubmittedXml, openrosa_version
from app.interop.imports import MAX_IMPORT_BYTES
from app.interop.openrosa import MAX_SUBMISSION_BYTES, OPENROSA_VERSION, form_list_xml, response_xml
from app.rounds.deps import round_for
from app.rounds.models import Round

router = APIRouter(tags=["interop"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/rounds/{round_id}/xlsform", response_class=Response)
def download_xlsform(
    session: SessionDep,
    participant_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    round_: Round = round_for("manage"),
) -> Response:
    """An XLSForm for ODK Central, KoboToolbox or Enketo asking the round's member questions: the
    enumerator form ("Which member is this for?", from the cluster's members), or with participant_id
    that member's personal form (who answers is filled in and hidden)."""
    cluster = clusters.get_cluster(session, round_.cluster_id)
    member = None
    if participant_id is not None:
        member = clusters.get_participant(session, participant_id)
        if member.cluster_id != cluster.id:
            raise NotFound("No such participant.")
    form = service.xlsform(session, cluster, round_, member=member)
    filename = f"{form.settings['form_id']}.xlsx"
    return Response(
        form.to_xlsx(), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


# OpenRosa, for ODK Collect, KoboCollect and Enketo: the same three resources for a member's phone and
# for a staff device (app/interop/deps.py says how each authenticates). The protocol is XML, documented
# in the README and docs/interop.md, not part of the JSON API's OpenAPI description.
openrosa = APIRouter(tags=["openrosa"], include_in_schema=False)
DEVICES = ("/openrosa/m/{token}", "/openrosa/clusters/{cluster_id}")
ACCEPT_CONTENT_LENGTH = str(MAX_SUBMISSION_BYTES)
# The answer import's whole request body (app.request_body): the file, and the multipart around it.
MAX_IMPORT_BODY = MAX_IMPORT_BYTES + 1_000_000


def openrosa_reply(body: str = "", *, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Every OpenRosa reply, errors included, says the protocol version and how much a device may send.
    No Date header of our own: the server (uvicorn) sends the one a reply must have."""
    headers = {"X-OpenRosa-Version": OPENROSA_VERSION, "X-OpenRosa-Accept-Content-Length": ACCEPT_CONTENT_LENGTH} | (
        headers or {}
    )
    media_type = "text/xml; charset=utf-8" if body else None
    return Response(body, status_code=status_code, media_type=media_type, headers=headers)


def is_openrosa(request: Request) -> bool:
    return request.url.path.startswith("/openrosa/")


def openrosa_error(
    request: Request, message: Msg, status_code: int, details: list[dict[str, str]] | None = None
) -> Response:
    """An error as OpenRosa clients read it: an <OpenRosaResponse> with the message (and each rejected field)
    in the device's language."""
    headers = {}
    if status_code == 401:
        # The member's link is a bearer token in the URL; a staff device logs in with HTTP Basic.
        challenge = 'Bearer realm="ClusterScore", error="invalid_token"'
        headers["WWW-Authenticate"] = challenge if "token" in request.path_params else 'Basic realm="ClusterScore"'
    locale = locale_of(request)
    problems = [f"{d['field']}: {translated(d['message'], locale)}" for d in details or []]
    body = response_xml(" ".join([message.localized(locale), *problems]), refused=True)
    return openrosa_reply(body, status_code=status_code, headers=headers)


def _base_url(request: Request) -> str:
    """This device's server URL, as Collect was given it."""
    return str(request.url).split("/formList", 1)[0]


def form_list(
    request: Request,
    session: SessionDep,
    device: DeviceDep,
    form_id: Annotated[str | None, Query(alias="formID")] = None,
) -> Response:
    entries = service.form_entries(session, device, base_url=_base_url(request), form_id=form_id)
    return openrosa_reply(form_list_xml(entries))


def form_download(round_id: PathId, session: SessionDep, device: DeviceDep) -> Response:
    return openrosa_reply(service.xform(service.device_form(session, device, round_id)))


def submission_probe(device: DeviceDep) -> Response:
    """Collect asks first (HEAD) where and how much it may send; OpenRosa wants 204 and no body."""
    return openrosa_reply(status_code=204)


def submission(session: SessionDep, device: DeviceDep, xml: SubmittedXml) -> Response:
    """201 for every accepted submission, a repeat of one already received included (as ODK Central)."""
    return openrosa_reply(response_xml(service.receive_submission(session, device, xml)), status_code=201)


for prefix in DEVICES:
    version_checked = [Depends(openrosa_version)]
    openrosa.add_api_route(prefix + "/formList", form_list, methods=["GET"], dependencies=version_checked)
    openrosa.add_api_route(prefix + "/forms/{round_id}", form_download, methods=["GET"])
    openrosa.add_api_route(
        prefix + "/submission", submission_probe, methods=["GET", "HEAD"], dependencies=version_checked
    )
    openrosa.add_api_route(prefix + "/submission", submission, methods=["POST"], dependencies=version_checked)


@router.post("/rounds/{round_id}/imports")
def import_answers(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    file: UploadFile | None = None,
    dry_run: bool = True,
    round_: Round = round_for("manage"),
) -> dict[str, object]:
    """Import answers from an ODK Central export (CSV or .csv.zip), a KoboToolbox export (CSV or XLSX) or
    a ClusterScore table, row by row: each row is accepted or skipped with its reasons. With dry_run=true
    (the default) nothing is written and the report says exactly what the import would do. Numbers in a
    ClusterScore table (CSV) are read as written in the request's language and region (Accept-Language)."""
    if file is None:
        raise InvalidInput("Upload the table as the multipart field 'file'.")
    content = file.file.read(MAX_IMPORT_BYTES + 1)
    report = service.import_answers(
        session,
        round_,
        content,
        filename=file.filename or "",
        dry_run=dry_run,
        actor=principal.actor,
        locale=formats_of(request),
    )
    return translated(report.as_json(), locale_of(request))
