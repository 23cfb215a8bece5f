"""The facilitator's pages: cluster setup, indicator proposals, rounds, the reflection session, print and exports.

Every page works as plain links and form posts; htmx only swaps fragments (a KPI row, the notes,
the live results) so a projector laptop without JavaScript still runs a session.
"""

from datetime import date
from typing import Annotated

import segno
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from app import mail
from app.auth import service as auth_service
from app.auth.deps import PrincipalDep
from app.auth.policy import cluster_capabilities
from app.auth.principal import Principal
from app.clusters import roster
from app.clusters import service as cluster_service
from app.clusters.deps import cluster_for
from app.clusters.models import Cluster, Participant
from app.clusters.schemas import CustomKpiCreate, KpiSettingsUpdate
from app.dashboard import charts, exports, logic, service
from app.deps import SessionDep, SettingsDep
from app.errors import AppError, InvalidInput
from app.forms import errors_by_field, typed_day, typed_number
from app.i18n.routes import FormatsDep, LocaleDep, formats_of, locale_of
from app.i18n.translation import _l, use_locale
from app.outreach import service as outreach
from app.proposals import service as proposal_service
from app.proposals.schemas import ProposalWording
from app.reports import pdf
from app.rounds import service as round_service
from app.rounds.deps import round_for
from app.rounds.models import Round
from app.rounds.schemas import RoundCreate, RoundStatus
from app.scorecards import service as scorecard_service
from app.timeutil import utcnow
from app.web import PostedForm, is_htmx, redirect_after_post, render

pages = APIRouter(tags=["facilitator"], include_in_schema=False)


def _can_manage(principal: PrincipalDep, cluster: Cluster) -> bool:
    """For the pages that only need "read": whether to show the controls that change things."""
    return "manage" in cluster_capabilities(principal, cluster)


# --- cluster setup --------------------------------------------------------------------------------


def _setup_context(session: SessionDep, cluster: Cluster, *, can_manage: bool, lang: str, **extra: object) -> dict:
    version = scorecard_service.get_version(session, cluster.template_version_id)
    return {
        "cluster": cluster,
        "scorecard": cluster_service.scorecard(session, cluster, lang=lang),
        "template": version,
        "newer": service.newer_versions(session, cluster),
        "can_manage": can_manage,
        "proposals": len(proposal_service.proposals_for_cluster(session, cluster.id or 0, status="proposed")),
        "errors": {},
        "new_kpi": {},
        **extra,
    }


@pages.get("/clusters/{cluster_id}/setup", response_class=HTMLResponse)
def setup(
    request: Request, session: SessionDep, principal: PrincipalDep, cluster: Cluster = cluster_for("read", staff=True)
):
    context = _setup_context(session, cluster, can_manage=_can_manage(principal, cluster), lang=locale_of(request))
    return render(request, "dashboard/setup.html", context)


@pages.post("/clusters/{cluster_id}/setup/kpis/{kpi_key}", response_class=HTMLResponse)
def update_kpi(
    kpi_key: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    formats: FormatsDep,
    baseline: Annotated[str, Form()] = "",
    target: Annotated[str, Form()] = "",
    weight: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
    cluster: Cluster = cluster_for("manage", staff=True),
):
    """Activation, baseline, target and weight of one KPI; an htmx post gets its table row back."""
    error = None
    try:
        data = KpiSettingsUpdate(
            active=active == "on",
            baseline=typed_number(baseline, "baseline", formats),
            target=typed_number(target, "target", formats),
            weight=typed_number(weight, "weight", formats),
        )
        cluster_service.update_kpi_settings(session, cluster, kpi_key, data, actor=principal.actor)
    except ValidationError as exc:
        error = "; ".join(e["msg"] for e in exc.errors())
    except InvalidInput as exc:
        error = exc.message
    if not is_htmx(request) and error is None:
        return redirect_after_post(f"/clusters/{cluster.id}/setup#kpi-{kpi_key}", request)
    # A refused row keeps what was typed in it, with the reason.
    typed = {"baseline": baseline, "target": target, "weight": weight}
    context = _setup_context(
        session,
        cluster,
        can_manage=True,
        row_error={kpi_key: error} if error else {},
        row_typed={kpi_key: typed} if error else {},
        lang=locale_of(request),
    )
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
    formats: FormatsDep,
    cluster: Cluster = cluster_for("manage", staff=True),
):
    """A cluster KPI added directly, e.g. during a session when the room agrees on a new indicator."""
    posted = {k: str(v).strip() for k, v in form.items() if k != "csrf_token"}
    fields: dict[str, object] = {k: v for k, v in posted.items() if v}
    taken = set(cluster_service.kpi_rows(session, cluster))
    fields["key"] = logic.kpi_key_for(posted.get("title", ""), taken)
    if fields.get("level") == "member" and not fields.get("question"):
        fields["question"] = posted.get("title", "")
    if fields.get("level") != "member":
        fields.pop("asked_of", None)  # the form offers it for every KPI; it concerns members' questions
    errors: dict[str, str] = {}
    try:
        for name in ("baseline", "target"):
            if name in fields:
                fields[name] = typed_number(posted[name], name, formats)
        cluster_service.add_custom_kpi(session, cluster, CustomKpiCreate.model_validate(fields), actor=principal.actor)
    except ValidationError as exc:
        errors = {str(e["loc"][0]) if e["loc"] else "title": e["msg"] for e in exc.errors()}
    except AppError as exc:
        errors = {str(d["field"]).split(".")[0]: d["message"] for d in exc.details or []} or {"title": exc.message}
    if errors:
        context = _setup_context(
            session, cluster, can_manage=True, errors=errors, new_kpi=posted, lang=locale_of(request)
        )
        return render(request, "dashboard/setup.html", context, status_code=422)
    return redirect_after_post(f"/clusters/{cluster.id}/setup#kpi-{fields['key']}", request)


@pages.get("/clusters/{cluster_id}/upgrade/{version_id}", response_class=HTMLResponse)
def upgrade_preview(
    version_id: int,
    request: Request,
    session: SessionDep,
    cluster: Cluster = cluster_for("manage", staff=True),
):
    preview = service.upgrade_preview(session, cluster, version_id)
    return render(request, "dashboard/upgrade.html", {"cluster": cluster, "preview": preview})


@pages.post("/clusters/{cluster_id}/upgrade/{version_id}")
def upgrade(
    version_id: int,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    cluster: Cluster = cluster_for("manage", staff=True),
):
    service.upgrade_template(session, cluster, version_id, actor=principal.actor)
    return redirect_after_post(f"/clusters/{cluster.id}/setup", request)


# --- member-proposed indicators -------------------------------------------------------------------


def _sees_people(principal: PrincipalDep, cluster: Cluster) -> bool:
    """Who answered, who proposed what: for those who see answers. Observers get the counts only, as in the API."""
    return "responses" in cluster_capabilities(principal, cluster)


def _proposals_context(
    session: SessionDep, cluster: Cluster, *, can_manage: bool, sees_people: bool, **extra: object
) -> dict:
    scorecard = cluster_service.scorecard(session, cluster)
    participants = {p.id: p for p in cluster_service.list_participants(session, cluster)} if sees_people else {}
    return {
        "cluster": cluster,
        "proposals": list(reversed(proposal_service.proposals_for_cluster(session, cluster.id or 0))),
        "participants": participants,
        "csf_titles": {c.key: c.title for p in scorecard.perspectives for c in p.csfs},
        "can_manage": can_manage,
        "errors": {},
        **extra,
    }


@pages.get("/clusters/{cluster_id}/proposals", response_class=HTMLResponse)
def proposals(
    request: Request, session: SessionDep, principal: PrincipalDep, cluster: Cluster = cluster_for("read", staff=True)
):
    context = _proposals_context(
        session, cluster, can_manage=_can_manage(principal, cluster), sees_people=_sees_people(principal, cluster)
    )
    return render(request, "dashboard/proposals.html", context)


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
    cluster: Cluster = cluster_for("manage", staff=True),
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
        context = _proposals_context(session, cluster, can_manage=True, sees_people=True, errors=errors)
        return render(request, "dashboard/proposals.html", context, status_code=422)
    except AppError as exc:
        context = _proposals_context(
            session, cluster, can_manage=True, sees_people=True, errors={proposal_id: exc.message}
        )
        return render(request, "dashboard/proposals.html", context, status_code=exc.status_code)
    return redirect_after_post(f"/clusters/{cluster.id}/proposals#proposal-{proposal_id}", request)


# --- rounds ---------------------------------------------------------------------------------------


def _rounds_context(session: SessionDep, principal: PrincipalDep, cluster: Cluster, **extra: object) -> dict:
    return {
        "cluster": cluster,
        "rounds": list(reversed(round_service.list_rounds(session, cluster))),
        "can_manage": _can_manage(principal, cluster),
        "typed": {},
        "errors": {},
        **extra,
    }


@pages.get("/clusters/{cluster_id}/rounds", response_class=HTMLResponse)
def rounds(
    request: Request, session: SessionDep, principal: PrincipalDep, cluster: Cluster = cluster_for("read", staff=True)
):
    return render(request, "dashboard/rounds.html", _rounds_context(session, principal, cluster))


@pages.post("/clusters/{cluster_id}/rounds", response_class=HTMLResponse)
def create_round(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    label: Annotated[str, Form(max_length=120)] = "",
    opens_on: Annotated[str, Form(max_length=20)] = "",
    closes_on: Annotated[str, Form(max_length=20)] = "",
    cluster: Cluster = cluster_for("manage", staff=True),
):
    try:
        data = RoundCreate(
            label=label, opens_on=typed_day(opens_on, "opens_on"), closes_on=typed_day(closes_on, "closes_on")
        )
        round_ = round_service.create_round(session, cluster, data)
    except AppError as exc:
        typed = {"label": label, "opens_on": opens_on, "closes_on": closes_on}
        context = _rounds_context(session, principal, cluster, typed=typed, errors=errors_by_field(exc, "label"))
        return render(request, "dashboard/rounds.html", context, block="new_round", status_code=422)
    return redirect_after_post(f"/rounds/{round_.id}/manage", request)


def _manage_context(
    session: SessionDep, round_: Round, *, can_manage: bool, sees_people: bool, **extra: object
) -> dict:
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    answered = service.who_answered(session, round_)
    submitted = sum(1 for a in answered if a.status == "submitted")
    values = {v.kpi_key: v for v in round_service.kpi_values(session, round_)}
    return {
        "cluster": cluster,
        "round": round_,
        "answered": answered if sees_people else [],
        "participants": len(answered),
        "submitted": submitted,
        "rate": logic.response_rate(submitted, len(answered)),
        "cluster_kpis": service.cluster_kpis(cluster_service.scorecard(session, cluster)),
        "values": values,
        "join_codes": [
            c for c in auth_service.join_codes(session, round_.id or 0) if auth_service.is_join_code_active(c)
        ],
        "working_links": outreach.with_working_link(session, cluster) if can_manage else set(),
        "can_manage": can_manage,
        "errors": {},
        **extra,
    }


@pages.get("/rounds/{round_id}/manage", response_class=HTMLResponse)
def manage_round(
    request: Request, session: SessionDep, principal: PrincipalDep, round_: Round = round_for("read", staff=True)
):
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    context = _manage_context(
        session, round_, can_manage=_can_manage(principal, cluster), sees_people=_sees_people(principal, cluster)
    )
    return render(request, "dashboard/round.html", context)


@pages.post("/rounds/{round_id}/status")
def set_round_status(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    status: Annotated[RoundStatus, Form()],
    confirmed: Annotated[str, Form()] = "",
    round_: Round = round_for("manage", staff=True),
):
    """Closing ends answering for everyone and freezes the round's figures: it is done from the confirmation page."""
    if status == RoundStatus.closed and round_.status == RoundStatus.open and confirmed != "yes":
        return redirect_after_post(f"/rounds/{round_.id}/close", request)
    round_service.set_status(session, round_, status, actor=principal.actor)
    return redirect_after_post(f"/rounds/{round_.id}/manage", request)


@pages.get("/rounds/{round_id}/close", response_class=HTMLResponse)
def confirm_close(request: Request, session: SessionDep, round_: Round = round_for("manage", staff=True)):
    """What closing means, with the count of those who have not submitted, before the one button that does it."""
    context = _manage_context(session, round_, can_manage=True, sees_people=True)
    return render(request, "dashboard/close.html", context)


@pages.post("/rounds/{round_id}/kpi-values/{kpi_key}", response_class=HTMLResponse)
def set_kpi_value(
    kpi_key: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    formats: FormatsDep,
    value: Annotated[str, Form()] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    round_: Round = round_for("manage", staff=True),
):
    """A cluster-level figure with where it comes from (a survey, the statistics office, the bank), or a yes/no
    fact (two buttons)."""
    try:
        round_service.set_typed_kpi_value(
            session, round_, kpi_key, value, note=note, locale=formats, actor=principal.actor
        )
    except AppError as exc:
        context = _manage_context(session, round_, can_manage=True, sees_people=True, errors={kpi_key: exc.message})
        return render(request, "dashboard/round.html", context, status_code=exc.status_code)
    return redirect_after_post(f"/rounds/{round_.id}/manage#value-{kpi_key}", request)


@pages.get("/rounds/{round_id}/member-links", response_class=HTMLResponse)
def confirm_member_links(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    who: str = outreach.MISSING,
    how: str = "print",
    round_: Round = round_for("manage", staff=True),
):
    """Who would get a new link, whose working link would stop, who is left out, before anything is issued."""
    planned = outreach.plan(session, round_, who=who, by_email=how == "email")
    context = {
        "cluster": cluster_service.get_cluster(session, round_.cluster_id),
        "round": round_,
        "plan": planned,
        "who": who,
        "how": how,
        "mail_ready": mail.configured(settings),
    }
    return render(request, "dashboard/links_confirm.html", context)


@pages.post("/rounds/{round_id}/member-links", response_class=HTMLResponse)
def member_links(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    locale: LocaleDep,
    who: Annotated[str, Form(max_length=20)] = outreach.MISSING,
    how: Annotated[str, Form(max_length=10)] = "print",
    planned_ids: Annotated[str, Form(max_length=100_000)] = "",
    round_: Round = round_for("manage", staff=True),
):
    """Issues what the confirmation showed (a plan that changed meanwhile is confirmed again), then prints the
    cards with each member's message to copy, or emails them."""
    planned = outreach.plan(session, round_, who=who, by_email=how == "email")
    if planned.ids != planned_ids:
        return redirect_after_post(f"/rounds/{round_.id}/member-links?who={who}&how={how}", request)
    issued = outreach.issue(session, settings, round_, planned, locale=locale)
    if how == "email":
        outreach.email(session, settings, round_, issued, locale=locale)
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    context = {"cluster": cluster, "round": round_, "cards": issued, "emailed": how == "email"}
    return render(request, "dashboard/links.html", context)


@pages.post("/rounds/{round_id}/join-code", response_class=HTMLResponse)
def join_code(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    round_: Round = round_for("manage", staff=True),
):
    """A short code to show in the room; people without a personal link register with it."""
    assert principal.user is not None and principal.user.id is not None
    code_row, code = auth_service.open_join_code(
        session, round_.id or 0, created_by=principal.user.id, secret=settings.secret_key
    )
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    join_url = f"{settings.public_url}/join"
    context = {
        "cluster": cluster,
        "round": round_,
        "code": code,
        "expires_at": code_row.expires_at,
        "join_url": join_url,
        "qr": segno.make(join_url, error="m").svg_data_uri(scale=6),
    }
    return render(request, "dashboard/join_code.html", context)


def _registrations_context(session: SessionDep, round_: Round, **extra: object) -> dict:
    """Who registered with a join code, people with the same name and organisation side by side."""
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    people = {
        r.participant_id: cluster_service.get_participant(session, r.participant_id)
        for r in auth_service.registrations(session, round_.id or 0)
    }
    groups: dict[tuple[str, str], list[Participant]] = {}
    for person in people.values():
        groups.setdefault(roster.key_of(person.organisation, person.person_name), []).append(person)
    return {"cluster": cluster, "round": round_, "groups": list(groups.values()), "error": None, **extra}


@pages.get("/rounds/{round_id}/registrations", response_class=HTMLResponse)
def registrations(request: Request, session: SessionDep, round_: Round = round_for("manage", staff=True)):
    return render(request, "dashboard/registrations.html", _registrations_context(session, round_))


@pages.post("/rounds/{round_id}/registrations/merge", response_class=HTMLResponse)
def merge_registrations(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    keep: Annotated[int, Form()],
    merge: Annotated[list[int], Form()],
    round_: Round = round_for("manage", staff=True),
):
    """One person registered twice: their registrations and answers come together under `keep`."""
    registered = {r.participant_id for r in auth_service.registrations(session, round_.id or 0)}
    if keep not in registered or not set(merge) <= registered:
        raise InvalidInput("No such registration.")
    kept = cluster_service.get_participant(session, keep)
    duplicates = [cluster_service.get_participant(session, m) for m in merge if m != keep]
    try:
        auth_service.merge_participants(session, kept, duplicates, actor=principal.actor)
    except AppError as exc:
        context = _registrations_context(session, round_, error=exc.message)
        return render(request, "dashboard/registrations.html", context, status_code=exc.status_code)
    return redirect_after_post(f"/rounds/{round_.id}/registrations", request)


# --- the reflection session -----------------------------------------------------------------------


def _variant(principal: PrincipalDep, cluster: Cluster) -> tuple[bool, bool]:
    capabilities = cluster_capabilities(principal, cluster)
    return "responses" in capabilities, "manage" in capabilities


def _session_context(session: SessionDep, principal: PrincipalDep, round_: Round, request: Request) -> dict:
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    with_comments, can_manage = _variant(principal, cluster)
    lang = locale_of(request)
    view = service.session_view(session, round_, with_comments=with_comments, lang=lang)
    carried, agreed = service.action_views(session, round_)
    previous = service.previous_round(session, round_)
    perspectives = view.scorecard.perspectives
    radar_series = [(view.round.label, [view.current.scores.perspectives[p.key].score.value for p in perspectives])]
    if view.previous is not None:
        previous_scores = view.previous.scores.perspectives
        radar_series.append((view.previous.round.label, [previous_scores[p.key].score.value for p in perspectives]))
    trend_series = [(_l("Overall").localized(lang), view.overall_trend)]
    trend_series += [(p.title, view.perspective_trends[p.key]) for p in perspectives]
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
        "here": f"/rounds/{round_.id}/session",
    }


def _live_etag(session: SessionDep, principal: PrincipalDep, round_: Round, request: Request) -> str:
    """Who sees what, and in which language and way of writing numbers: a switch of language is a change."""
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    with_comments, can_manage = _variant(principal, cluster)
    variant = f"{int(with_comments)}{int(can_manage)}-{formats_of(request)}"
    return service.live_etag(session, round_, variant=variant)


# "present": large type for a projector in a big room; a link, so the screen needs no key press to switch.
PresentMode = Annotated[bool, Query()]


@pages.get("/rounds/{round_id}/session", response_class=HTMLResponse)
def reflection_session(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    present: PresentMode = False,
    round_: Round = round_for("results", staff=True),
):
    etag = _live_etag(session, principal, round_, request)
    context = _session_context(session, principal, round_, request) | {"etag": etag, "present": present}
    response = render(request, "dashboard/session.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


@pages.get("/rounds/{round_id}/session/live", response_class=HTMLResponse)
def live(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    present: PresentMode = False,
    round_: Round = round_for("results", staff=True),
):
    """The polled fragment: 304 with no body when nothing changed since the ETag the page holds."""
    etag = _live_etag(session, principal, round_, request)
    # no-store: the browser keeps no copy of its own, so the 304 reaches htmx (dashboard.js) unaltered.
    headers = {"ETag": etag, "Cache-Control": "no-store", "Vary": "HX-Request, Cookie"}
    if logic.etag_matches(request.headers.get("If-None-Match"), etag):
        return Response(status_code=304, headers=headers)
    context = _session_context(session, principal, round_, request) | {"etag": etag, "present": present}
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
    round_: Round = round_for("manage", staff=True),
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
    round_: Round = round_for("manage", staff=True),
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
    context = _session_context(session, principal, round_, request) | {"errors": errors}
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
    round_: Round = round_for("manage", staff=True),
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
    round_: Round = round_for("manage", staff=True),
):
    """Actions belong to the cluster: one agreed two rounds ago is updated from today's session."""
    action = service.get_action(session, round_.cluster_id, action_id)
    service.set_action_status(session, action, status, actor=principal.actor)
    return _plan(request, session, principal, round_, {}, anchor="plan")


# --- print and exports ----------------------------------------------------------------------------


@pages.get("/rounds/{round_id}/print", response_class=HTMLResponse)
def print_view(
    request: Request, session: SessionDep, principal: PrincipalDep, round_: Round = round_for("results", staff=True)
):
    return render(request, "dashboard/print.html", _session_context(session, principal, round_, request))


@pages.get("/rounds/{round_id}/report.pdf")
def round_report(
    request: Request, session: SessionDep, principal: PrincipalDep, round_: Round = round_for("results", staff=True)
) -> Response:
    """The print view as a PDF, for whoever may see the print view (comments only for those who may read answers)."""
    context = _session_context(session, principal, round_, request)
    return pdf.pdf_response(request, "dashboard/print.html", context, filename=f"clusterscore-round-{round_.id}.pdf")


CSV = "text/csv; charset=utf-8"


def _download(content: bytes | str, media_type: str, round_: Round, name: str) -> Response:
    filename = f"clusterscore-round-{round_.id}-{name}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}
    return Response(content, media_type=media_type, headers=headers)


@pages.get("/rounds/{round_id}/export/answers.csv")
def export_answers_csv(session: SessionDep, formats: FormatsDep, round_: Round = round_for("responses", staff=True)):
    rows = service.raw_answers(session, round_)
    with use_locale(formats):
        return _download(exports.csv_text(exports.ANSWER_COLUMNS, rows), CSV, round_, "answers.csv")


@pages.get("/rounds/{round_id}/export/answers-wide.csv")
def export_answers_wide_csv(
    session: SessionDep, formats: FormatsDep, round_: Round = round_for("responses", staff=True)
):
    """One row per member, one column per question (as KoboToolbox and ODK export, and as an import reads)."""
    columns, rows = _wide_answers(session, round_)
    with use_locale(formats):
        return _download(exports.csv_text(columns, rows), CSV, round_, "answers-wide.csv")


def _wide_answers(session: Session, round_: Round) -> tuple[list[str], list[exports.Row]]:
    scorecard = cluster_service.scorecard(session, cluster_service.get_cluster(session, round_.cluster_id))
    return exports.wide_answers(service.raw_answers(session, round_), *service.answer_columns(scorecard))


@pages.get("/rounds/{round_id}/export/scores.csv")
def export_scores_csv(
    session: SessionDep, locale: LocaleDep, formats: FormatsDep, round_: Round = round_for("results", staff=True)
):
    rows = exports.score_rows(service.session_view(session, round_, with_comments=False, lang=locale))
    with use_locale(formats):
        return _download(exports.csv_text(exports.SCORE_COLUMNS, rows), CSV, round_, "scores.csv")


@pages.get("/rounds/{round_id}/export.xlsx")
def export_xlsx(
    session: SessionDep, locale: LocaleDep, formats: FormatsDep, round_: Round = round_for("responses", staff=True)
):
    """Everything of the round: scores, answers (both layouts), the notes of the session and the action plan."""
    view = service.session_view(session, round_, with_comments=False, lang=locale)
    csf_titles = {c.key: c.title for p in view.scorecard.perspectives for c in p.csfs}
    labels = {r.id or 0: r.label for r in round_service.list_rounds(session, view.cluster)}
    wide_columns, wide_rows = _wide_answers(session, round_)
    notes = exports.note_rows(
        service.notes_for(session, round_.id or 0), round_label=round_.label, csf_titles=csf_titles
    )
    with use_locale(formats):
        actions = exports.action_rows(
            service.actions_for(session, round_.cluster_id), round_labels=labels, csf_titles=csf_titles
        )
        content = exports.xlsx_bytes(
            [
                ("Scores", exports.SCORE_COLUMNS, exports.score_rows(view)),
                ("Answers", exports.ANSWER_COLUMNS, service.raw_answers(session, round_)),
                ("Answers by member", wide_columns, wide_rows),
                ("Notes", exports.NOTE_COLUMNS, notes),
                ("Action plan", exports.ACTION_COLUMNS, actions),
            ]
        )
    return _download(
        content, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", round_, "results.xlsx"
    )
