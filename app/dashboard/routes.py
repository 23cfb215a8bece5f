"""The facilitator's pages: cluster setup, indicator proposals, rounds, the reflection session, print and exports.

Every page works as plain links and form posts; htmx only swaps fragments (a KPI row, the notes,
the live results) so a projector laptop without JavaScript still runs a session.
"""

from datetime import date
from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from app.auth import service as auth_service
from app.auth.policy import PrincipalDep, cluster_capabilities, staff_cluster_for, staff_round_for
from app.auth.principal import Principal
from app.clusters import service as cluster_service
from app.clusters.models import Cluster
from app.clusters.schemas import CustomKpiCreate, KpiSettingsUpdate
from app.dashboard import charts, exports, logic, service
from app.deps import SessionDep, SettingsDep
from app.errors import AppError, InvalidInput
from app.proposals import service as proposal_service
from app.proposals.schemas import ProposalWording
from app.rounds import service as round_service
from app.rounds.models import Round
from app.rounds.schemas import KpiValueSet, RoundCreate, RoundStatus
from app.scorecards import service as scorecard_service
from app.timeutil import utcnow
from app.web import PostedForm, is_htmx, redirect_after_post, render, templates

pages = APIRouter(tags=["facilitator"], include_in_schema=False)
templates.env.filters["figure"] = logic.figure


def _can_manage(principal: PrincipalDep, cluster: Cluster) -> bool:
    return "manage" in cluster_capabilities(principal, cluster)


def _number(raw: str, field: str) -> float | None:
    raw = raw.strip().replace(",", ".")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput("Not a number.", details=[{"field": field, "message": "Please enter a number."}]) from None


# --- cluster setup --------------------------------------------------------------------------------


def _setup_context(session: SessionDep, principal: PrincipalDep, cluster: Cluster, **extra: object) -> dict:
    version = scorecard_service.get_version(session, cluster.template_version_id)
    return {
        "cluster": cluster,
        "scorecard": cluster_service.scorecard(session, cluster),
        "template": version,
        "newer": service.newer_versions(session, cluster),
        "can_manage": _can_manage(principal, cluster),
        "proposals": len(proposal_service.proposals_for_cluster(session, cluster.id or 0, status="proposed")),
        "errors": {},
        "new_kpi": {},
        **extra,
    }


@pages.get("/clusters/{cluster_id}/setup", response_class=HTMLResponse)
def setup(request: Request, session: SessionDep, principal: PrincipalDep, cluster: Cluster = staff_cluster_for("read")):
    return render(request, "dashboard/setup.html", _setup_context(session, principal, cluster))


@pages.post("/clusters/{cluster_id}/setup/kpis/{kpi_key}", response_class=HTMLResponse)
def update_kpi(
    kpi_key: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    baseline: Annotated[str, Form()] = "",
    target: Annotated[str, Form()] = "",
    weight: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
    cluster: Cluster = staff_cluster_for("manage"),
):
    """Activation, baseline, target and weight of one KPI; an htmx post gets its table row back."""
    error = None
    try:
        data = KpiSettingsUpdate(
            active=active == "on",
            baseline=_number(baseline, "baseline"),
            target=_number(target, "target"),
            weight=_number(weight, "weight"),
        )
        cluster_service.update_kpi_settings(session, cluster, kpi_key, data, actor=principal.actor)
    except ValidationError as exc:
        error = "; ".join(e["msg"] for e in exc.errors())
    except InvalidInput as exc:
        error = exc.message
    if not is_htmx(request) and error is None:
        return redirect_after_post(f"/clusters/{cluster.id}/setup#kpi-{kpi_key}", request)
    context = _setup_context(session, principal, cluster, row_error={kpi_key: error} if error else {})
    kpi = context["scorecard"].kpi(kpi_key)
    return render(
        request, "dashboard/setup.html", {**context, "kpi": kpi}, block="kpi_row", status_code=422 if error else 200
    )


@pages.post("/clusters/{cluster_id}/setup/kpis", response_class=HTMLResponse)
def add_kpi(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    form: PostedForm,
    cluster: Cluster = staff_cluster_for("manage"),
):
    """A cluster KPI added directly, e.g. during a session when the room agrees on a new indicator."""
    posted = {k: str(v).strip() for k, v in form.items() if k != "csrf_token"}
    fields: dict[str, object] = {k: v for k, v in posted.items() if v}
    taken = set(cluster_service.kpi_rows(session, cluster))
    fields["key"] = logic.kpi_key_for(posted.get("title", ""), taken)
    if fields.get("level") == "member" and not fields.get("question"):
        fields["question"] = posted.get("title", "")
    errors: dict[str, str] = {}
    try:
        for name in ("baseline", "target"):
            if name in fields:
                fields[name] = _number(posted[name], name)
        cluster_service.add_custom_kpi(session, cluster, CustomKpiCreate.model_validate(fields), actor=principal.actor)
    except ValidationError as exc:
        errors = {str(e["loc"][0]) if e["loc"] else "title": e["msg"] for e in exc.errors()}
    except AppError as exc:
        errors = {str(d["field"]).split(".")[0]: d["message"] for d in exc.details or []} or {"title": exc.message}
    if errors:
        context = _setup_context(session, principal, cluster, errors=errors, new_kpi=posted)
        return render(request, "dashboard/setup.html", context, status_code=422)
    return redirect_after_post(f"/clusters/{cluster.id}/setup#kpi-{fields['key']}", request)


@pages.get("/clusters/{cluster_id}/upgrade/{version_id}", response_class=HTMLResponse)
def upgrade_preview(
    version_id: int,
    request: Request,
    session: SessionDep,
    cluster: Cluster = staff_cluster_for("manage"),
):
    preview = service.upgrade_preview(session, cluster, version_id)
    return render(request, "dashboard/upgrade.html", {"cluster": cluster, "preview": preview})


@pages.post("/clusters/{cluster_id}/upgrade/{version_id}")
def upgrade(
    version_id: int,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    cluster: Cluster = staff_cluster_for("manage"),
):
    service.upgrade_template(session, cluster, version_id, actor=principal.actor)
    return redirect_after_post(f"/clusters/{cluster.id}/setup", request)


# --- member-proposed indicators -------------------------------------------------------------------


def _proposals_context(session: SessionDep, principal: PrincipalDep, cluster: Cluster, **extra: object) -> dict:
    scorecard = cluster_service.scorecard(session, cluster)
    participants = {p.id: p for p in cluster_service.list_participants(session, cluster)}
    return {
        "cluster": cluster,
        "proposals": list(reversed(proposal_service.proposals_for_cluster(session, cluster.id or 0))),
        "participants": participants,
        "csf_titles": {c.key: c.title for p in scorecard.perspectives for c in p.csfs},
        "can_manage": _can_manage(principal, cluster),
        "errors": {},
        **extra,
    }


@pages.get("/clusters/{cluster_id}/proposals", response_class=HTMLResponse)
def proposals(
    request: Request, session: SessionDep, principal: PrincipalDep, cluster: Cluster = staff_cluster_for("read")
):
    return render(request, "dashboard/proposals.html", _proposals_context(session, principal, cluster))


@pages.post("/clusters/{cluster_id}/proposals/{proposal_id}", response_class=HTMLResponse)
def decide(
    proposal_id: int,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    decision: Annotated[str, Form()] = "save",
    title: Annotated[str, Form()] = "",
    question: Annotated[str, Form()] = "",
    unit: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    cluster: Cluster = staff_cluster_for("manage"),
):
    """Save the edited wording, then accept (it joins the scorecard) or decline with a reason."""
    proposal = proposal_service.get_proposal(session, cluster.id or 0, proposal_id)
    try:
        if decision in ("save", "accept"):
            wording = ProposalWording(title=title, question=question, unit=unit or None)
            proposal_service.reword(session, proposal, wording, actor=principal.actor)
        if decision == "accept":
            proposal_service.accept(session, proposal, cluster, actor=principal.actor)
        elif decision == "decline":
            proposal_service.decline(session, proposal, reason=reason, actor=principal.actor)
    except ValidationError as exc:
        errors = {proposal_id: "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())}
        context = _proposals_context(session, principal, cluster, errors=errors)
        return render(request, "dashboard/proposals.html", context, status_code=422)
    except AppError as exc:
        context = _proposals_context(session, principal, cluster, errors={proposal_id: exc.message})
        return render(request, "dashboard/proposals.html", context, status_code=exc.status_code)
    return redirect_after_post(f"/clusters/{cluster.id}/proposals#proposal-{proposal_id}", request)


# --- rounds ---------------------------------------------------------------------------------------


@pages.get("/clusters/{cluster_id}/rounds", response_class=HTMLResponse)
def rounds(
    request: Request, session: SessionDep, principal: PrincipalDep, cluster: Cluster = staff_cluster_for("read")
):
    context = {
        "cluster": cluster,
        "rounds": list(reversed(round_service.list_rounds(session, cluster))),
        "can_manage": _can_manage(principal, cluster),
    }
    return render(request, "dashboard/rounds.html", context)


@pages.post("/clusters/{cluster_id}/rounds")
def create_round(
    request: Request,
    session: SessionDep,
    label: Annotated[str, Form(min_length=1, max_length=120)],
    cluster: Cluster = staff_cluster_for("manage"),
):
    round_ = round_service.create_round(session, cluster, RoundCreate(label=label.strip() or "Round"))
    return redirect_after_post(f"/rounds/{round_.id}/manage", request)


def _manage_context(session: SessionDep, principal: PrincipalDep, round_: Round, **extra: object) -> dict:
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    answered = service.who_answered(session, round_)
    submitted = sum(1 for a in answered if a.status == "submitted")
    values = {v.kpi_key: v for v in round_service.kpi_values(session, round_)}
    return {
        "cluster": cluster,
        "round": round_,
        "answered": answered,
        "submitted": submitted,
        "rate": logic.response_rate(submitted, len(answered)),
        "cluster_kpis": service.cluster_kpis(cluster_service.scorecard(session, cluster)),
        "values": values,
        "join_codes": [
            c for c in auth_service.join_codes(session, round_.id or 0) if auth_service.is_join_code_active(c)
        ],
        "can_manage": _can_manage(principal, cluster),
        "errors": {},
        **extra,
    }


@pages.get("/rounds/{round_id}/manage", response_class=HTMLResponse)
def manage_round(
    request: Request, session: SessionDep, principal: PrincipalDep, round_: Round = staff_round_for("read")
):
    return render(request, "dashboard/round.html", _manage_context(session, principal, round_))


@pages.post("/rounds/{round_id}/status")
def set_round_status(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    status: Annotated[RoundStatus, Form()],
    round_: Round = staff_round_for("manage"),
):
    round_service.set_status(session, round_, status, actor=principal.actor)
    return redirect_after_post(f"/rounds/{round_.id}/manage", request)


@pages.post("/rounds/{round_id}/kpi-values/{kpi_key}", response_class=HTMLResponse)
def set_kpi_value(
    kpi_key: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    value: Annotated[str, Form()] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    round_: Round = staff_round_for("manage"),
):
    """A cluster-level figure with where it comes from (a survey, the statistics office, the bank)."""
    try:
        number = _number(value, "value")
        if number is None:
            raise InvalidInput("Please enter a number.")
        round_service.set_kpi_value(
            session, round_, kpi_key, KpiValueSet(value=number, note=note), actor=principal.actor
        )
    except AppError as exc:
        context = _manage_context(session, principal, round_, errors={kpi_key: exc.message})
        return render(request, "dashboard/round.html", context, status_code=exc.status_code)
    return redirect_after_post(f"/rounds/{round_.id}/manage#value-{kpi_key}", request)


@pages.post("/rounds/{round_id}/member-links", response_class=HTMLResponse)
def member_links(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    participant_id: Annotated[int | None, Form()] = None,
    round_: Round = staff_round_for("manage"),
):
    """Printable personal links with QR codes. Issuing replaces earlier links, so it is a POST."""
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    participants = [p for p in cluster_service.list_participants(session, cluster) if p.active]
    if participant_id is not None:
        participants = [p for p in participants if p.id == participant_id]
        if not participants:
            raise InvalidInput("No such participant in this cluster.")
    cards = []
    for participant in participants:
        token = auth_service.issue_member_link(session, participant.id or 0)
        url = f"{settings.base_url}/m/{token}"
        cards.append({"participant": participant, "url": url, "qr": segno.make(url, error="m").svg_data_uri(scale=4)})
    return render(request, "dashboard/links.html", {"cluster": cluster, "round": round_, "cards": cards})


@pages.post("/rounds/{round_id}/join-code", response_class=HTMLResponse)
def join_code(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    round_: Round = staff_round_for("manage"),
):
    """A short code to show in the room; people without a personal link register with it."""
    assert principal.user is not None and principal.user.id is not None
    code_row, code = auth_service.open_join_code(
        session, round_.id or 0, created_by=principal.user.id, secret=settings.secret_key
    )
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    join_url = f"{settings.base_url}/join"
    context = {
        "cluster": cluster,
        "round": round_,
        "code": code,
        "expires_at": code_row.expires_at,
        "join_url": join_url,
        "qr": segno.make(join_url, error="m").svg_data_uri(scale=6),
    }
    return render(request, "dashboard/join_code.html", context)


# --- the reflection session -----------------------------------------------------------------------


def _variant(principal: PrincipalDep, cluster: Cluster) -> tuple[bool, bool]:
    capabilities = cluster_capabilities(principal, cluster)
    return "responses" in capabilities, "manage" in capabilities


def _session_context(session: SessionDep, principal: PrincipalDep, round_: Round) -> dict:
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    with_comments, can_manage = _variant(principal, cluster)
    view = service.session_view(session, round_, with_comments=with_comments)
    carried, agreed = service.action_views(session, round_)
    previous = service.previous_round(session, round_)
    perspectives = view.scorecard.perspectives
    radar_series = [(view.round.label, [view.current.scores.perspectives[p.key].score.value for p in perspectives])]
    if view.previous is not None:
        previous_scores = view.previous.scores.perspectives
        radar_series.append((view.previous.round.label, [previous_scores[p.key].score.value for p in perspectives]))
    trend_series = [("Overall", view.overall_trend)] + [(p.title, view.perspective_trends[p.key]) for p in perspectives]
    return {
        "view": view,
        "cluster": cluster,
        "round": round_,
        "can_manage": can_manage,
        "with_comments": with_comments,
        "radar": charts.radar([p.title for p in perspectives], radar_series),
        "trend": charts.trend([r.round.label for r in view.history], trend_series) if len(view.history) > 1 else None,
        "trend_series": trend_series,
        "overall_change": logic.change(view.overall_trend),
        "carried": carried,
        "agreed": agreed,
        "notes": service.notes_for(session, round_.id or 0),
        "previous_round": previous,
        "previous_notes": service.notes_for(session, previous.id or 0) if previous else [],
        "csf_titles": {c.key: c.title for p in perspectives for c in p.csfs},
        "today": utcnow().date(),
        "statuses": logic.ACTION_STATUSES,
        "errors": {},
    }


def _live_etag(session: SessionDep, principal: PrincipalDep, round_: Round) -> str:
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    with_comments, can_manage = _variant(principal, cluster)
    return service.live_etag(session, round_, variant=f"{int(with_comments)}{int(can_manage)}")


@pages.get("/rounds/{round_id}/session", response_class=HTMLResponse)
def reflection_session(
    request: Request, session: SessionDep, principal: PrincipalDep, round_: Round = staff_round_for("results")
):
    etag = _live_etag(session, principal, round_)
    response = render(request, "dashboard/session.html", _session_context(session, principal, round_) | {"etag": etag})
    response.headers["Cache-Control"] = "no-store"
    return response


@pages.get("/rounds/{round_id}/session/live", response_class=HTMLResponse)
def live(request: Request, session: SessionDep, principal: PrincipalDep, round_: Round = staff_round_for("results")):
    """The polled fragment: 304 with no body when nothing changed since the ETag the page holds."""
    etag = _live_etag(session, principal, round_)
    # no-store: the browser keeps no copy of its own, so the 304 reaches htmx (dashboard.js) unaltered.
    headers = {"ETag": etag, "Cache-Control": "no-store", "Vary": "HX-Request, Cookie"}
    if logic.etag_matches(request.headers.get("If-None-Match"), etag):
        return Response(status_code=304, headers=headers)
    context = _session_context(session, principal, round_) | {"etag": etag}
    response = render(request, "dashboard/session.html", context, block="live")
    response.headers.update(headers)
    return response


@pages.post("/rounds/{round_id}/notes", response_class=HTMLResponse)
def add_note(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    text: Annotated[str, Form(max_length=4000)] = "",
    csf_key: Annotated[str, Form()] = "",
    round_: Round = staff_round_for("manage"),
):
    errors: dict[str, str] = {}
    try:
        service.add_note(session, round_, csf_key=csf_key or None, text=text, actor=principal.actor)
    except InvalidInput as exc:
        errors = {"note": exc.message}
    return _plan(request, session, principal, round_, errors, anchor="notes")


@pages.post("/rounds/{round_id}/notes/{note_id}", response_class=HTMLResponse)
def change_note(
    note_id: int,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    text: Annotated[str, Form(max_length=4000)] = "",
    remove: Annotated[str, Form()] = "",
    round_: Round = staff_round_for("manage"),
):
    """A typo fixed or a note taken back during the session (the audit trail keeps what it said)."""
    note = service.get_note(session, round_, note_id)
    errors: dict[str, str] = {}
    try:
        service.change_note(session, round_, note, text=None if remove else text, actor=principal.actor)
    except InvalidInput as exc:
        errors = {f"note-{note_id}": exc.message}
    return _plan(request, session, principal, round_, errors, anchor="notes")


def _plan(
    request: Request, session: Session, principal: Principal, round_: Round, errors: dict[str, str], *, anchor: str
) -> Response:
    """After a change to the action plan or the notes: htmx gets the plan again, a plain post a redirect
    (or the page with the problem shown)."""
    if not is_htmx(request) and not errors:
        return redirect_after_post(f"/rounds/{round_.id}/session#{anchor}", request)
    context = _session_context(session, principal, round_) | {"errors": errors}
    return render(request, "dashboard/session.html", context, block="plan", status_code=422 if errors else 200)


@pages.post("/rounds/{round_id}/actions", response_class=HTMLResponse)
def add_action(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    title: Annotated[str, Form(max_length=300)] = "",
    owner: Annotated[str, Form(max_length=200)] = "",
    due_date: Annotated[str, Form()] = "",
    csf_key: Annotated[str, Form()] = "",
    round_: Round = staff_round_for("manage"),
):
    errors: dict[str, str] = {}
    try:
        due = date.fromisoformat(due_date) if due_date.strip() else None
        service.add_action(
            session, round_, title=title, owner=owner, due_date=due, csf_key=csf_key or None, actor=principal.actor
        )
    except ValueError:
        errors = {"action": "The due date is not a date (YYYY-MM-DD)."}
    except InvalidInput as exc:
        errors = {"action": exc.message}
    return _plan(request, session, principal, round_, errors, anchor="plan")


@pages.post("/rounds/{round_id}/actions/{action_id}", response_class=HTMLResponse)
def update_action(
    action_id: int,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    status: Annotated[str, Form()] = "",
    round_: Round = staff_round_for("manage"),
):
    """Actions belong to the cluster: one agreed two rounds ago is updated from today's session."""
    action = service.get_action(session, round_.cluster_id, action_id)
    service.set_action_status(session, action, status, actor=principal.actor)
    return _plan(request, session, principal, round_, {}, anchor="plan")


# --- print and exports ----------------------------------------------------------------------------


@pages.get("/rounds/{round_id}/print", response_class=HTMLResponse)
def print_view(
    request: Request, session: SessionDep, principal: PrincipalDep, round_: Round = staff_round_for("results")
):
    return render(request, "dashboard/print.html", _session_context(session, principal, round_))


def _download(content: bytes | str, media_type: str, round_: Round, name: str) -> Response:
    filename = f"clusterscore-round-{round_.id}-{name}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}
    return Response(content, media_type=media_type, headers=headers)


@pages.get("/rounds/{round_id}/export/answers.csv")
def export_answers_csv(session: SessionDep, round_: Round = staff_round_for("responses")):
    rows = service.raw_answers(session, round_)
    return _download(logic.csv_text(logic.ANSWER_COLUMNS, rows), "text/csv; charset=utf-8", round_, "answers.csv")


@pages.get("/rounds/{round_id}/export/scores.csv")
def export_scores_csv(session: SessionDep, round_: Round = staff_round_for("results")):
    rows = exports.score_rows(service.session_view(session, round_, with_comments=False))
    return _download(logic.csv_text(logic.SCORE_COLUMNS, rows), "text/csv; charset=utf-8", round_, "scores.csv")


@pages.get("/rounds/{round_id}/export.xlsx")
def export_xlsx(session: SessionDep, round_: Round = staff_round_for("responses")):
    scores = exports.score_rows(service.session_view(session, round_, with_comments=False))
    content = exports.xlsx_bytes(
        [
            ("Scores", logic.SCORE_COLUMNS, scores),
            ("Answers", logic.ANSWER_COLUMNS, service.raw_answers(session, round_)),
        ]
    )
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return _download(content, media_type, round_, "results.xlsx")
