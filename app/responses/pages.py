"""The member's self-evaluation in the browser: one step per perspective, a review, submit, thanks.

Works as plain form posts without JavaScript; with htmx each field is saved as it is changed
(autosave) and the page shows whether it was. The JSON API (routes.py) is the same service underneath.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.datastructures import FormData

from app.auth.policy import PrincipalDep, checked_round
from app.auth.principal import Principal
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant
from app.clusters.schemas import Scorecard
from app.config import ROOT
from app.db import Deferred, begin_writing, database_work, end_writing, writes_begin_late
from app.deps import PathId, SessionDep
from app.errors import NotFound
from app.i18n.routes import LocaleDep
from app.i18n.translation import _l
from app.proposals import service as proposal_service
from app.proposals.schemas import ProposalCreate
from app.responses import form as member_form
from app.responses import service
from app.responses.models import Response as MemberResponse
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
    session: Session = field(repr=False)

    @cached_property
    def response(self) -> MemberResponse | None:
        """The member's response so far, read when a page first needs it; a save reads it inside its writes
        instead (ensure_response)."""
        return service.find_response(self.session, self.round, self.participant)

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
    def values(self) -> dict[str, str]:
        """What the member gave so far, as the inputs show it. Read only by pages that show answers: an
        autosave, the request a member sends most, does without."""
        answers = service.read(self.session, self.response) if self.response is not None else None
        return member_form.stored_values(answers, self.scorecard)

    def offline_pages(self) -> list[str]:
        """What the service worker keeps on the phone so the form opens with no connection."""
        steps = [f"{self.base_url}/answer/{n}" for n in range(1, len(self.scorecard.perspectives) + 1)]
        statics = [static_url("app.css"), static_url("member.js")]
        return [*steps, f"{self.base_url}/review", *statics]

    def ensure_response(self, session: Session) -> MemberResponse:
        """The member's response, created when they first save or submit (not when they only look).

        Where a member's writes begin (app.db.begin_writing): a round closed or the response submitted on
        another device since this request read them is seen here, so a late answer is refused and a
        correction audited as one."""
        read_before = self.__dict__.get("response")  # by a page, perhaps: the cached property
        if begin_writing(session):
            read_before = service.reread_round_and_response(session, self.round, self.participant)
        # Not read before: found (or created) here, inside the writes, so it is fresh without reading it twice.
        response = read_before or service.start_response(session, self.round, self.participant)
        self.response = response
        return response

    @contextmanager
    def writing(self) -> Iterator[MemberResponse]:
        """The member's writes, committed as soon as they are done: on SQLite the writers' turn is handed on
        before the reply is rendered (app.db.end_writing)."""
        response = self.ensure_response(self.session)
        yield response
        end_writing(self.session)

    @cached_property
    def progress(self) -> member_form.Progress:
        """Read by the pages that show it (the steps, the review, resuming): the thank-you and proposals pages
        do without reading the answers."""
        return member_form.progress(self.scorecard, self.values)

    def context(self, **extra: object) -> dict[str, object]:
        return {"form": self, "steps": len(self.scorecard.perspectives), **extra}


async def _member_form(
    round_id: PathId, session: SessionDep, principal: PrincipalDep, locale: LocaleDep
) -> Deferred[MemberForm]:
    """Only the member themself answers here ("answer" is a member-only capability). The round is checked
    here rather than by round_for, and loaded with the handler's own work (every handler that takes the
    form is a `database_work`), for the requests members send most."""

    def load() -> MemberForm:
        round_, cluster = checked_round(session, principal, round_id, "answer")
        participant = principal.participant
        assert participant is not None
        scorecard = cluster_service.scorecard(session, cluster, lang=locale)
        return MemberForm(round_, cluster, participant, scorecard, session)

    return Deferred(load)


MemberFormDep = Annotated[MemberForm, Depends(_member_form)]
pages = APIRouter(tags=["member form"], include_in_schema=False)


def _answer_fields(posted: FormData) -> dict[str, str]:
    return {name: str(value) for name, value in posted.items() if member_form.is_form_field(name)}


def _save(form: MemberForm, principal: Principal, fields: dict[str, str]) -> dict[str, str]:
    with form.writing() as response:
        return service.save_form_fields(form.session, response, fields, scorecard=form.scorecard, actor=principal.actor)


@pages.get("/sw.js")
def service_worker() -> Response:
    """Served from the root so that it may keep the form's pages (a worker's scope is its folder)."""
    body = (ROOT / "static" / "sw.js").read_bytes()
    return Response(body, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


@pages.get("/rounds/{round_id}/answer")
@database_work
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
@database_work
def show_step(step: int, request: Request, form: MemberFormDep) -> Response:
    perspective = form.scorecard.perspectives[_perspective_index(form, step)]
    return render(request, "responses/step.html", form.context(step=step, perspective=perspective, errors={}))


@pages.post("/rounds/{round_id}/answer/{step}", response_class=HTMLResponse)
@writes_begin_late
@database_work
def save_step(
    step: int, request: Request, session: SessionDep, principal: PrincipalDep, form: MemberFormDep, posted: PostedForm
) -> Response:
    """The plain (no JavaScript) way: the whole step at once, then on to the next or back."""
    perspective = form.scorecard.perspectives[_perspective_index(form, step)]
    fields = _answer_fields(posted)
    errors = _save(form, principal, fields)
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
@writes_begin_late
@database_work
def autosave(
    request: Request, session: SessionDep, principal: PrincipalDep, form: MemberFormDep, posted: PostedForm
) -> Response:
    """htmx posts each field as it changes; the answer is only the field's saved / not saved status."""
    fields = _answer_fields(posted)
    change = member_form.device_change(str(posted.get("client_id", "")), str(posted.get("client_at", "")))
    if change is None:
        errors = _save(form, principal, fields)
    else:
        with form.writing() as response:
            errors = service.save_device_change(
                session,
                response,
                fields,
                client_id=change[0],
                client_at=change[1],
                scorecard=form.scorecard,
                actor=principal.actor,
            )
    return render(request, "responses/autosave.html", {"names": list(fields), "errors": errors})


@pages.get("/rounds/{round_id}/review", response_class=HTMLResponse)
@database_work
def review(request: Request, form: MemberFormDep) -> Response:
    return render(request, "responses/review.html", form.context())


@pages.post("/rounds/{round_id}/submit")
@writes_begin_late
@database_work
def submit(request: Request, session: SessionDep, principal: PrincipalDep, form: MemberFormDep) -> Response:
    with form.writing() as response:
        service.submit(session, response, client_id=None, actor=principal.actor)
    return redirect_after_post(f"{form.base_url}/thanks", request)


@pages.get("/rounds/{round_id}/thanks", response_class=HTMLResponse)
@database_work
def thanks(request: Request, session: SessionDep, form: MemberFormDep) -> Response:
    """How the cluster is doing so far, if the cluster chose to show members the live results."""
    show = form.cluster.shows_members_results
    scores = scoring_service.round_scores(session, form.round, lang=form.scorecard.language) if show else None
    return render(request, "responses/thanks.html", form.context(scores=scores))


@pages.get("/rounds/{round_id}/proposals", response_class=HTMLResponse)
@database_work
def proposals(request: Request, session: SessionDep, form: MemberFormDep) -> Response:
    return render(request, "responses/proposals.html", _proposal_context(session, form, values={}, errors={}))


def _proposal_context(
    session: Session, form: MemberForm, *, values: dict[str, str], errors: dict[str, str], done: bool = False
) -> dict[str, object]:
    mine = proposal_service.proposals_of(session, form.participant)
    return form.context(proposals=mine, proposal=values, errors=errors, done=done)


@pages.post("/rounds/{round_id}/proposals", response_class=HTMLResponse)
@database_work
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
