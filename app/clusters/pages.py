"""Setting a cluster up without the API: the cluster itself (agency staff), its participants, and importing them
from a list. Each page keeps what was typed when something is refused, with the reason next to the field."""

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from app.auth import policy
from app.auth.deps import PrincipalDep
from app.clusters import roster, service
from app.clusters.deps import cluster_for, participant_for, programme_for
from app.clusters.models import Cluster, Participant, Programme
from app.clusters.schemas import ClusterCreate, ClusterUpdate, OrganisationType, ParticipantCreate, Stage, Typology
from app.deps import SessionDep
from app.errors import AppError
from app.forms import errors_by_field, invalid_fields, refused
from app.i18n.translation import LOCALES, _l
from app.scorecards import service as scorecard_service
from app.web import PostedForm, is_htmx, redirect_after_post, render

pages = APIRouter(tags=["setup"], include_in_schema=False)

TYPOLOGY_NAMES = {
    Typology.italianate: _l("Italianate industrial district"),
    Typology.satellite: _l("Satellite platform"),
    Typology.hub_and_spoke: _l("Hub and spoke"),
    Typology.survival: _l("Survival cluster"),
    Typology.fordist: _l("Fordist mass production"),
    Typology.transnational: _l("Transnational corporations"),
    Typology.working: _l("Working cluster"),
    Typology.latent: _l("Latent cluster"),
    Typology.potential: _l("Potential cluster"),
    Typology.policy_driven: _l("Policy-driven cluster"),
    Typology.wishful_thinking: _l("Wishful-thinking cluster"),
}
STAGE_NAMES = {
    Stage.emerging: _l("emerging"),
    Stage.growing: _l("growing"),
    Stage.mature: _l("mature"),
    Stage.declining: _l("declining"),
}
ORGANISATION_TYPE_NAMES = {
    OrganisationType.firm: _l("firm"),
    OrganisationType.association: _l("association"),
    OrganisationType.training: _l("training institute"),
    OrganisationType.research: _l("research institute"),
    OrganisationType.government: _l("government"),
    OrganisationType.finance: _l("finance"),
    OrganisationType.other: _l("other"),
}
CLUSTER_FIELDS = ("name", "sector", "country", "region", "typology", "stage")


# --- the cluster ---------------------------------------------------------------------------------------


def _cluster_page(
    request: Request,
    session: SessionDep,
    *,
    programme: Programme,
    cluster: Cluster | None,
    typed: dict[str, Any],
    errors: dict[str, Any] | None = None,
    saved: bool = False,
) -> Response:
    versions = {v.key: v for v in scorecard_service.list_versions(session)}  # ordered by id: the newest per key
    context = {
        "programme": programme,
        "cluster": cluster,
        "typed": typed,
        "errors": errors or {},
        "saved": saved,
        "templates": list(versions.values()),
        "typologies": TYPOLOGY_NAMES,
        "stages": STAGE_NAMES,
    }
    return render(request, "setup/cluster.html", context, block="cluster_form", status_code=422 if errors else 200)


def _cluster_fields(form: PostedForm) -> dict[str, Any]:
    typed = {name: str(form.get(name, "")).strip() for name in CLUSTER_FIELDS}
    typed["country"] = typed["country"].upper()
    return typed | {
        "shows_members_results": form.get("shows_members_results") == "on",
        "shares_benchmarks": form.get("shares_benchmarks") == "on",
    }


def _none_if_empty(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if k in ("typology", "stage") and v == "" else v) for k, v in fields.items()}


@pages.get("/programmes/{programme_id}/clusters/new", response_class=HTMLResponse)
def new_cluster(request: Request, session: SessionDep, programme: Programme = programme_for(agency=True)) -> Response:
    typed = {"shows_members_results": True, "shares_benchmarks": False}
    return _cluster_page(request, session, programme=programme, cluster=None, typed=typed)


@pages.post("/programmes/{programme_id}/clusters", response_class=HTMLResponse)
def create_cluster(
    request: Request, session: SessionDep, form: PostedForm, programme: Programme = programme_for(agency=True)
) -> Response:
    typed = _cluster_fields(form) | {"template_version_id": str(form.get("template_version_id", ""))}
    try:
        data = ClusterCreate.model_validate(_none_if_empty(typed))
        cluster = service.create_cluster(session, programme, data)
    except ValidationError as exc:
        return _cluster_page(
            request, session, programme=programme, cluster=None, typed=typed, errors=invalid_fields(exc)
        )
    except AppError as exc:
        errors = errors_by_field(exc, "template_version_id")
        return _cluster_page(request, session, programme=programme, cluster=None, typed=typed, errors=errors)
    return redirect_after_post(f"/clusters/{cluster.id}/participants", request)


@pages.get("/clusters/{cluster_id}/edit", response_class=HTMLResponse)
def edit_cluster(
    request: Request, session: SessionDep, principal: PrincipalDep, cluster: Cluster = cluster_for("manage", staff=True)
) -> Response:
    policy.require_benchmark_attributes(principal, cluster)
    typed = {
        name: getattr(cluster, name) or "" for name in (*CLUSTER_FIELDS, "shows_members_results", "shares_benchmarks")
    }
    programme = service.get_programme(session, cluster.programme_id)
    return _cluster_page(request, session, programme=programme, cluster=cluster, typed=typed)


@pages.post("/clusters/{cluster_id}/edit", response_class=HTMLResponse)
def update_cluster(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    form: PostedForm,
    cluster: Cluster = cluster_for("manage", staff=True),
) -> Response:
    """Agency staff only: the page changes what decides the cluster's peer groups (app.auth.policy)."""
    policy.require_benchmark_attributes(principal, cluster)
    typed = _cluster_fields(form)
    programme = service.get_programme(session, cluster.programme_id)
    try:
        service.update_cluster(
            session, cluster, ClusterUpdate.model_validate(_none_if_empty(typed)), actor=principal.actor
        )
    except ValidationError as exc:
        errors = invalid_fields(exc)
        return _cluster_page(request, session, programme=programme, cluster=cluster, typed=typed, errors=errors)
    if not is_htmx(request):
        return redirect_after_post(f"/clusters/{cluster.id}/edit?saved=1", request)
    return _cluster_page(request, session, programme=programme, cluster=cluster, typed=typed, saved=True)


# --- participants --------------------------------------------------------------------------------------


def _participant_data(typed: dict[str, str]) -> ParticipantCreate:
    """The row a facilitator typed, each problem next to its field in the reader's language."""
    organisation, person_name, email = typed["organisation"], typed["person_name"], typed["email"]
    organisation_type, language = typed["organisation_type"], typed["language"]
    if not organisation.strip():
        raise refused("organisation", _l("Please fill this in."))
    if email.strip() and not roster.looks_like_email(email.strip()):
        raise refused("email", _l("Enter a valid email address."))
    if organisation_type not in ORGANISATION_TYPE_NAMES:
        raise refused("organisation_type", _l("This value is not valid here."))
    if language and language not in LOCALES:
        raise refused("language", _l("This value is not valid here."))
    try:
        return ParticipantCreate(
            organisation=organisation.strip(),
            person_name=person_name.strip(),
            email=email.strip() or None,
            organisation_type=OrganisationType(organisation_type),
            language=language or None,
        )
    except ValidationError as exc:
        field, message = next(iter(invalid_fields(exc).items()))
        raise refused(field, message) from None


def _participants_context(session: SessionDep, cluster: Cluster, **extra: Any) -> dict[str, Any]:
    return {
        "cluster": cluster,
        "participants": service.list_participants(session, cluster),
        "kinds": ORGANISATION_TYPE_NAMES,
        "typed": {"organisation_type": "firm"},
        "errors": {},
        "row_errors": {},
        "row_typed": {},
        "saved": None,
        **extra,
    }


@pages.get("/clusters/{cluster_id}/participants", response_class=HTMLResponse)
def participants(
    request: Request, session: SessionDep, saved: str = "", cluster: Cluster = cluster_for("manage", staff=True)
) -> Response:
    context = _participants_context(session, cluster, saved=saved or None)
    return render(request, "setup/participants.html", context)


@pages.post("/clusters/{cluster_id}/participants", response_class=HTMLResponse)
def add_participant(
    request: Request,
    session: SessionDep,
    organisation: Annotated[str, Form(max_length=300)] = "",
    person_name: Annotated[str, Form(max_length=300)] = "",
    email: Annotated[str, Form(max_length=300)] = "",
    organisation_type: Annotated[str, Form(max_length=20)] = "firm",
    language: Annotated[str, Form(max_length=10)] = "",
    cluster: Cluster = cluster_for("manage", staff=True),
) -> Response:
    typed = {
        "organisation": organisation,
        "person_name": person_name,
        "email": email,
        "organisation_type": organisation_type,
        "language": language,
    }
    try:
        added = service.add_participant(session, cluster, _participant_data(typed))
    except AppError as exc:
        context = _participants_context(session, cluster, typed=typed, errors=errors_by_field(exc, "organisation"))
        return render(request, "setup/participants.html", context, status_code=422)
    return redirect_after_post(f"/clusters/{cluster.id}/participants?saved={added.id}#participant-{added.id}", request)


@pages.post("/participants/{participant_id}", response_class=HTMLResponse)
def update_participant(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    organisation: Annotated[str, Form(max_length=300)] = "",
    person_name: Annotated[str, Form(max_length=300)] = "",
    email: Annotated[str, Form(max_length=300)] = "",
    organisation_type: Annotated[str, Form(max_length=20)] = "firm",
    language: Annotated[str, Form(max_length=10)] = "",
    participant: Participant = participant_for("manage"),
) -> Response:
    """One row of the list; htmx gets the row back, saying it was saved or why not."""
    cluster = service.get_cluster(session, participant.cluster_id)
    typed = {
        "organisation": organisation,
        "person_name": person_name,
        "email": email,
        "organisation_type": organisation_type,
        "language": language,
    }
    try:
        data = _participant_data(typed)
        service.update_participant(session, participant, data, actor=principal.actor)
    except AppError as exc:
        context = _participants_context(
            session,
            cluster,
            row_errors={participant.id: errors_by_field(exc, "organisation")},
            row_typed={participant.id: typed},
        )
        return render(
            request, "setup/participants.html", context | {"p": participant}, block="participant_row", status_code=422
        )
    if not is_htmx(request):
        return redirect_after_post(
            f"/clusters/{cluster.id}/participants?saved={participant.id}#participant-{participant.id}", request
        )
    context = _participants_context(session, cluster, saved=str(participant.id))
    return render(request, "setup/participants.html", context | {"p": participant}, block="participant_row")


@pages.post("/participants/{participant_id}/active", response_class=HTMLResponse)
def set_participant_active(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    active: Annotated[str, Form()] = "",
    participant: Participant = participant_for("manage"),
) -> Response:
    """Deactivating ends the participant's link and session; what they answered stays on record."""
    service.set_participant_active(session, participant, active == "yes", actor=principal.actor)
    return redirect_after_post(
        f"/clusters/{participant.cluster_id}/participants?saved={participant.id}#participant-{participant.id}", request
    )


# --- import ----------------------------------------------------------------------------------------------


def _fingerprint(text: str, mapping: dict[str, int], has_header: bool) -> str:
    return hashlib.sha256(repr((text, sorted(mapping.items()), has_header)).encode()).hexdigest()[:16]


def _import_page(request: Request, cluster: Cluster, status_code: int = 200, **context: Any) -> Response:
    full = {
        "cluster": cluster,
        "text": "",
        "error": None,
        "header": [],
        "mapping": {},
        "has_header": True,
        "planned": [],
        "fields": roster.FIELDS,
        "field_labels": roster.FIELD_LABELS,
        "imported": None,
        "checked": "",
        **context,
    }
    return render(request, "setup/import.html", full, status_code=status_code)


@pages.get("/clusters/{cluster_id}/participants/import", response_class=HTMLResponse)
def import_page(request: Request, cluster: Cluster = cluster_for("manage", staff=True)) -> Response:
    return _import_page(request, cluster)


@pages.post("/clusters/{cluster_id}/participants/import", response_class=HTMLResponse)
def import_participants(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    form: PostedForm,
    cluster: Cluster = cluster_for("manage", staff=True),
) -> Response:
    """A dry run first: the preview shows every row with what would happen to it, and writes nothing. Only
    "Import" (action=import) adds the rows the preview showed as new."""
    upload = form.get("file")
    # Browsers send a textarea's line breaks as CRLF: the same list as the preview showed must fingerprint the same.
    text = str(form.get("text", "")).replace("\r\n", "\n")
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            rows = roster.read_file(upload.filename, upload.file.read(roster.MAX_FILE_BYTES + 1))
            text = roster.as_text(rows)
        else:
            rows = roster.read_text(text)
        if "map_organisation" in form:
            mapping = {f: int(str(form[f"map_{f}"])) for f in roster.FIELDS if str(form.get(f"map_{f}", "")).isdigit()}
            has_header = form.get("has_header") == "on"
        else:
            mapping, has_header = roster.guess_mapping(rows[0])
        planned = roster.plan(rows, mapping, has_header=has_header, existing=service.participant_keys(session, cluster))
    except roster.UnreadableTable as exc:
        return _import_page(request, cluster, status_code=422, text=text, error=exc.message)
    checked = _fingerprint(text, mapping, has_header)
    context: dict[str, Any] = {
        "text": text,
        "header": rows[0],
        "mapping": mapping,
        "has_header": has_header,
        "planned": planned,
    }
    if form.get("action") != "import" or form.get("checked") != checked:
        # An import only of exactly what the preview showed: a list or mapping changed since is previewed again.
        return _import_page(request, cluster, checked=checked, **context)
    added = service.import_participants(session, cluster, planned, actor=principal.actor)
    return _import_page(request, cluster, imported=len(added), skipped=len(planned) - len(added))
