from email.utils import formatdate

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import Response

from app.auth import service as auth_service
from app.auth.policy import PrincipalDep, round_for
from app.clusters import service as clusters
from app.clusters.models import Participant
from app.deps import SessionDep
from app.errors import AppError, InvalidInput, NotFound
from app.interop import service
from app.interop.imports import MAX_IMPORT_BYTES, ImportRejected
from app.interop.openrosa import MAX_SUBMISSION_BYTES, SubmissionRejected, form_list_xml, response_xml
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


# OpenRosa, for ODK Collect, KoboCollect and Enketo. The member's personal-link token in the path is
# the credential (a capability URL, like /m/{token}): these routes never read the session cookie, so
# a cross-site request carries no ambient credential and verify_csrf exempts the /openrosa/ prefix.
# The OpenRosa protocol (XML for ODK Collect / KoboCollect / Enketo), documented in the README, not
# part of the JSON API's OpenAPI description.
openrosa = APIRouter(prefix="/openrosa/m/{token}", tags=["openrosa"], include_in_schema=False)
ACCEPT_CONTENT_LENGTH = MAX_SUBMISSION_BYTES


def _reply(body: str | bytes = b"", *, status_code: int = 200, media_type: str = "text/xml; charset=utf-8") -> Response:
    headers = {"X-OpenRosa-Version": "1.0", "Date": formatdate(usegmt=True)}
    return Response(body, status_code=status_code, media_type=media_type if body else None, headers=headers)


def _member(session: SessionDep, token: str) -> Participant:
    participant_id = auth_service.participant_for_token(session, token)
    participant = session.get(Participant, participant_id) if participant_id is not None else None
    if participant is None:
        raise NotFound("This link is not valid (any more).")
    return participant


def _base_url(request: Request, token: str) -> str:
    return str(request.base_url).rstrip("/") + f"/openrosa/m/{token}"


@openrosa.get("/formList", response_class=Response)
def form_list(token: str, request: Request, session: SessionDep) -> Response:
    try:
        participant = _member(session, token)
    except AppError as exc:
        return _reply(response_xml(exc.message, refused=True), status_code=exc.status_code)
    cluster = clusters.get_cluster(session, participant.cluster_id)
    entries = service.form_entries(session, cluster, base_url=_base_url(request, token))
    return _reply(form_list_xml(entries))


@openrosa.get("/forms/{round_id}", response_class=Response)
def form_download(token: str, round_id: int, session: SessionDep) -> Response:
    try:
        participant = _member(session, token)
        round_ = session.get(Round, round_id)
        if round_ is None or round_.cluster_id != participant.cluster_id or round_.status != "open":
            raise NotFound("No such form.")
    except AppError as exc:
        return _reply(response_xml(exc.message, refused=True), status_code=exc.status_code)
    cluster = clusters.get_cluster(session, participant.cluster_id)
    return _reply(service.xform(service.xlsform(session, cluster, round_)))


@openrosa.api_route("/submission", methods=["GET", "HEAD"], response_class=Response)
def submission_probe(token: str, session: SessionDep) -> Response:
    """Collect asks first (HEAD) where and how much it may send."""
    try:
        _member(session, token)
    except AppError as exc:
        return _reply(status_code=exc.status_code)
    reply = _reply(status_code=204)
    reply.headers["X-OpenRosa-Accept-Content-Length"] = str(ACCEPT_CONTENT_LENGTH)
    return reply


@openrosa.post("/submission", response_class=Response)
def submission(token: str, request: Request, session: SessionDep, xml_submission_file: UploadFile) -> Response:
    try:
        participant = _member(session, token)
        xml = xml_submission_file.file.read(MAX_SUBMISSION_BYTES + 1)
        if len(xml) > MAX_SUBMISSION_BYTES:
            return _reply(response_xml("The submission is too large.", refused=True), status_code=413)
        status, message = service.receive_submission(session, participant, xml, actor=f"participant:{participant.id}")
    except (SubmissionRejected, AppError) as exc:
        # Nothing of a refused submission is kept (a response started before a bad value was found).
        session.rollback()
        if isinstance(exc, AppError):
            return _reply(response_xml(_explain(exc), refused=True), status_code=exc.status_code)
        return _reply(response_xml(str(exc), refused=True), status_code=400)
    reply = _reply(response_xml(message), status_code=status)
    reply.headers["Location"] = str(request.url)
    return reply


def _explain(exc: AppError) -> str:
    details = "; ".join(f"{d['field']}: {d['message']}" for d in exc.details or [])
    return f"{exc.message} {details}".strip()


@router.post("/rounds/{round_id}/imports")
def import_answers(
    session: SessionDep,
    principal: PrincipalDep,
    http: Response,
    file: UploadFile | None = None,
    dry_run: bool = True,
    round_: Round = round_for("manage"),
) -> dict[str, object]:
    """Import answers from an ODK Central / KoboToolbox export (CSV or XLSX) or a plain CSV, one row per
    participant. With dry_run=true (the default) nothing is written; otherwise everything or nothing."""
    if file is None:
        raise InvalidInput("Upload the table as the multipart field 'file'.")
    content = file.file.read(MAX_IMPORT_BYTES + 1)
    try:
        report = service.import_answers(
            session, round_, content, filename=file.filename or "", dry_run=dry_run, actor=principal.actor
        )
    except ImportRejected as exc:
        raise InvalidInput(str(exc)) from None
    if report["rejected"]:
        http.status_code = 422
    return report
