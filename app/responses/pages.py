"""The member's self-evaluation in the browser: one step per perspective, a review, submit, thanks.

Works as plain form posts without JavaScript; with htmx each field is saved as it is changed
(autosave) and the page shows whether it was. The JSON API (routes.py) is the same service underneath.
"""

from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.datastructures import FormData

from app.auth.deps import PrincipalDep
from app.auth.principal import Principal
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant
from app.clusters.schemas import Scorecard, ScorecardCsf, ScorecardKpi
from app.config import ROOT
from app.deps import PathId, SessionDep
from app.errors import NotFound
from app.i18n.routes import FormatsDep, LocaleDep
from app.i18n.translation import _l
from app.proposals import service as proposal_service
from app.proposals.schemas import ProposalCreate
from app.responses import form as member_form
from app.responses import service
from app.responses.models import Response as MemberResponse
from app.rounds.deps import checked_round
from app.rounds.models import Round
from app.scoring import service as scoring_service
from app.web import PostedForm, redirect_after_post, render, static_url


@dataclass
class MemberForm:
    """Everything a member page shows: whose form, which round, the scorecard and the answers so far."""

    round: Round
    cluster: Cluster
    participant: Participant
    scorecard: Scorecard
    response: MemberResponse | None  # none until the member first saves or submits
    session: Session = field(repr=False)
    locale: str = "en"
    """How the member writes numbers (a Babel locale): their answers are read and shown so."""

    @property
    def base_url(self) -> str:
        return f"/rounds/{self.round.id}"

    @property
    def is_open(self) -> bool:
        return self.round.status == "open"

    @property
    def submitted(self) -> bool:
        return self.response is not None and self.response.status == "submitted"

    @cached_property
    def stored(self) -> dict[str, str]:
        """What the member gave so far and was saved, as the inputs show it; read only by the pages that show
        answers."""
        answers = service.read(self.session, self.response) if self.response is not None else None
        return member_form.stored_values(answers, self.scorecard, self.locale)

    @cached_property
    def values(self) -> dict[str, str]:
        """What the inputs show: the stored answers, and after a refused post also what was typed (see save_step)."""
        return dict(self.stored)

    def questions(self, csf: ScorecardCsf) -> list[ScorecardKpi]:
        """The KPI questions of a success factor this member is asked (some are for firms only)."""
        return member_form.member_kpis(csf, self.scorecard, self.participant.organisation_type)

    def offline_pages(self) -> list[str]:
        """What the service worker keeps on the phone so the form opens with no connection."""
        steps = [f"{self.base_url}/answer/{n}" for n in range(1, len(self.scorecard.perspectives) + 1)]
        # htmx too: the browser's own cache may drop it on a full phone, and without it nothing autosaves.
        statics = [static_url("app.css"), static_url("vendor/htmx.min.js"), static_url("member.js")]
        return [*steps, f"{self.base_url}/review", *statics]

    @cached_property
    def progress(self) -> member_form.Progress:
        # Only stored answers count: a value typed and refused stays in its field but is not an answer.
        return member_form.progress(self.scorecard, self.stored, self.participant.organisation_type)

    def context(self, **extra: object) -> dict[str, object]:
        return {"form": self, "steps": len(self.scorecard.perspectives), **extra}


def _member_form(
    round_id: PathId, session: SessionDep, principal: PrincipalDep, locale: LocaleDep, formats: FormatsDep
) -> MemberForm:
    """Only the member themself answers here ("answer" is a member-only capability)."""
    round_, cluster = checked_round(session, principal, round_id, "answer")
    participant = principal.participant
    assert participant is not None
    scorecard = cluster_service.scorecard(session, cluster, lang=locale)
    response = service.find_response(session, round_, participant)
    return MemberForm(round_, cluster, participant, scorecard, response, session, formats)


MemberFormDep = Annotated[MemberForm, Depends(_member_form)]
pages = APIRouter(tags=["member form"], include_in_schema=False)


def _answer_fields(posted: FormData) -> dict[str, str]:
    return {name: str(value) for name, value in posted.items() if member_form.is_form_field(name)}


def _own_response(session: Session, form: MemberForm) -> MemberResponse:
    """The member's response, created when they first save or submit (not when they only look)."""
    if form.response is None:
        form.response = service.start_response(session, form.round, form.participant)
    return form.response


def _save(
    session: Session, form: MemberForm, principal: Principal, fields: dict[str, str], change: service.Change
) -> dict[str, str]:
    return service.save_form_change(
        session,
        _own_response(session, form),
        fields,
        change=change,
        scorecard=form.scorecard,
        actor=principal.actor,
        locale=form.locale,
    )


@pages.get("/sw.js")
def service_worker() -> Response:
    """Served from the root so that it may keep the form's pages (a worker's scope is its folder)."""
    body = (ROOT / "static" / "sw.js").read_bytes()
    return Response(body, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


@pages.get("/rounds/{round_id}/answer")
def resume(form: MemberFormDep) -> Response:
    """Coming back another day: straight to the first step with an unanswered question."""
    if form.submitted or not form.is_open:
        return RedirectResponse(f"{form.base_url}/thanks", status_code=303)
    step = form.progress.first_open_step
    target = f"{form.base_url}/answer/{step}" if step else f"{form.base_url}/review"
    return RedirectResponse(target, status_code=303)


def _perspective_index(form: MemberForm, step: int) -> int:
    if not 1 <= step <= len(form.scorecard.perspectives):
        raise NotFound("No such step.")
    return step - 1


@pages.get("/rounds/{round_id}/answer/{step}", response_class=HTMLResponse)
def show_step(step: int, request: Request, form: MemberFormDep) -> Response:
    perspective = form.scorecard.perspectives[_perspective_index(form, step)]
    return render(request, "responses/step.html", form.context(step=step, perspective=perspective, errors={}))


@pages.post("/rounds/{round_id}/answer/{step}", response_class=HTMLResponse)
def save_step(
    step: int, request: Request, session: SessionDep, principal: PrincipalDep, form: MemberFormDep, posted: PostedForm
) -> Response:
    """The plain (no JavaScript) way: the whole step at once, then on to the next or back."""
    perspective = form.scorecard.perspectives[_perspective_index(form, step)]
    fields = _answer_fields(posted)
    errors = _save(session, form, principal, fields, service.form_change(fields, client_id=None, made_at=None))
    if errors:
        # Show what the member typed, valid or not: nothing they typed is lost from the page.
        form.values.update(fields)
        context = form.context(step=step, perspective=perspective, errors=errors)
        return render(request, "responses/step.html", context, status_code=422)
    go = str(posted.get("go", "next"))
    if go == "back" and step > 1:
        return redirect_after_post(f"{form.base_url}/answer/{step - 1}", request)
    if go == "next" and step < len(form.scorecard.perspectives):
        return redirect_after_post(f"{form.base_url}/answer/{step + 1}", request)
    return redirect_after_post(f"{form.base_url}/review", request)


@pages.post("/rounds/{round_id}/autosave", response_class=HTMLResponse)
def autosave(
    request: Request, session: SessionDep, principal: PrincipalDep, form: MemberFormDep, posted: PostedForm
) -> Response:
    """htmx posts each field as it changes; the answer is only the field's saved / not saved status."""
    fields = _answer_fields(posted)
    client_id, made_at = member_form.device_change(str(posted.get("client_id", "")), str(posted.get("client_at", "")))
    change = service.form_change(fields, client_id=client_id, made_at=made_at)
    errors = _save(session, form, principal, fields, change)
    return render(request, "responses/autosave.html", {"names": list(fields), "errors": errors})


@pages.get("/rounds/{round_id}/review", response_class=HTMLResponse)
def review(request: Request, form: MemberFormDep) -> Response:
    return render(request, "responses/review.html", form.context())


@pages.post("/rounds/{round_id}/submit")
def submit(request: Request, session: SessionDep, principal: PrincipalDep, form: MemberFormDep) -> Response:
    service.submit(session, _own_response(session, form), client_id=None, actor=principal.actor)
    return redirect_after_post(f"{form.base_url}/thanks", request)


@pages.get("/rounds/{round_id}/thanks", response_class=HTMLResponse)
def thanks(request: Request, session: SessionDep, form: MemberFormDep) -> Response:
    """How the cluster is doing so far, if the cluster chose to show members the live results."""
    show = form.cluster.shows_members_results
    scores = scoring_service.round_scores(session, form.round, lang=form.scorecard.language) if show else None
    return render(request, "responses/thanks.html", form.context(scores=scores))


@pages.get("/rounds/{round_id}/proposals", response_class=HTMLResponse)
def proposals(request: Request, session: SessionDep, form: MemberFormDep) -> Response:
    return render(request, "responses/proposals.html", _proposal_context(session, form, values={}, errors={}))


def _proposal_context(
    session: Session, form: MemberForm, *, values: dict[str, str], errors: dict[str, str], done: bool = False
) -> dict[str, object]:
    mine = proposal_service.proposals_of(session, form.participant)
    return form.context(proposals=mine, proposal=values, errors=errors, done=done)


@pages.post("/rounds/{round_id}/proposals", response_class=HTMLResponse)
def propose(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    locale: LocaleDep,
    form: MemberFormDep,
    form_data: PostedForm,
) -> Response:
    """A member proposes an indicator of their own; the facilitator decides on it."""
    posted = {name: str(value) for name, value in form_data.items() if name != "csrf_token"}
    fields = {name: value for name, value in posted.items() if value.strip() or name in {"title", "csf_key"}}
    try:
        # Stored in the language the member wrote it in: the one their form is in.
        data = ProposalCreate.model_validate({**fields, "language": locale})
    except ValidationError as exc:
        errors = {str(e["loc"][0]): _proposal_message(str(e["loc"][0])) for e in exc.errors()}
        context = _proposal_context(session, form, values=posted, errors=errors)
        return render(request, "responses/proposals.html", context, block="proposal_form", status_code=422)
    proposal_service.propose(
        session, form.participant, data, scorecard=form.scorecard, round_id=form.round.id, actor=principal.actor
    )
    context = _proposal_context(session, form, values={}, errors={}, done=True)
    return render(request, "responses/proposals.html", context, block="proposal_form")


def _proposal_message(field: str) -> str:
    return {
        "title": _l("Please name the indicator in a few words (at least 3 characters)."),
        "csf_key": _l("Please choose which success factor this indicator belongs to."),
        "question": _l("Please keep the question under 1000 characters."),
        "unit": _l("Please keep the unit short (40 characters at most)."),
    }.get(field, _l("Please check this field."))
