"""A reflection session in Chromium: members answer on phones while the projected screen updates itself.

The facilitator's screen runs in its own browser context and is never reloaded: the response count and
the scores change through htmx polling (304 while nothing is new). Then the facilitator records a note
and an action, closes the round, opens the next one and finds both there.

With CLUSTERSCORE_DOC_SHOTS=1 the screenshots for the README are written to docs/img/ as well.
"""

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlmodel import Session, select

from app.clusters import service as cluster_service
from app.clusters.models import Participant
from app.config import ROOT
from app.proposals import service as proposal_service
from app.proposals.schemas import ProposalCreate
from app.rounds import service as round_service
from app.rounds.schemas import KpiValueSet
from tests import factories
from tests.browser.conftest import PHONE, SCREENSHOTS, assert_accessible
from tests.support.live_server import LiveServer

LOANS = "ease-of-access-to-loans"
DOC_SHOTS = ROOT / "docs" / "img"
POLL_TIMEOUT = 20_000  # ms: the screen polls every 3 s, and the machine may be busy


@dataclass
class Reflection:
    cluster_id: int
    round_id: int
    links: list[str]
    email: str


@pytest.fixture
def reflection(server: LiveServer) -> Reflection:
    with Session(server.engine) as session:
        cluster = factories.cluster(session, name="Thai Food Cluster (Bangkok)")
        members = [
            factories.participant(session, cluster, organisation=name, person_name=person)
            for name, person in (("Siam Rice", "Anong"), ("Golden Chili", "Boon"), ("Lotus Snacks", "Chai"))
        ]
        round_ = factories.open_round(session, cluster, label="2026 H1")
        round_service.set_kpi_value(
            session, round_, "non-performing-loans", KpiValueSet(value=14, note="Partner banks, June"), actor="t"
        )
        facilitator = factories.user(session, grants=(("facilitator", cluster),))
        links = [factories.member_link(session, m) for m in members]
        session.commit()
        assert cluster.id and round_.id
        return Reflection(cluster.id, round_.id, [f"{server.url}{link}" for link in links], facilitator.email)


@dataclass
class Screen:
    context: BrowserContext
    page: Page
    errors: list[str]


@pytest.fixture
def screen(browser: Browser) -> Iterator[Screen]:
    """The projector laptop: a wide window, its own context (cookies), console errors collected."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            errors.append(f"{message.text} @ {message.location} @ {page.url}") if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield Screen(context, page, errors)
    context.close()
    assert errors == [], errors


def _shot(page: Page, name: str, *, full_page: bool = False) -> None:
    folder = SCREENSHOTS / "reflection_session"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=path, full_page=full_page)
    if os.environ.get("CLUSTERSCORE_DOC_SHOTS") == "1":
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOC_SHOTS / f"{name}.png")


def _member_submits(browser: Browser, server: LiveServer, link: str, round_id: int, rating: str, why: str) -> None:
    context = browser.new_context(**PHONE)  # type: ignore[arg-type]
    page = context.new_page()
    try:
        page.goto(link)
        page.goto(f"{server.url}/rounds/{round_id}/answer/1")
        page.wait_for_load_state()
        page.locator(f'label:has(input[name="r.{LOANS}"][value="{rating}"])').tap()
        expect(page.locator(f"#st-r-{LOANS}")).to_have_text("Saved")
        page.locator(f"#c-{LOANS}").fill(why)
        page.locator(f"#c-{LOANS}").blur()
        expect(page.locator(f"#st-c-{LOANS}")).to_have_text("Saved")
        page.goto(f"{server.url}/rounds/{round_id}/review")
        page.get_by_role("button", name="Submit my answers").tap()
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!")
    finally:
        context.close()


def _overall(page: Page) -> str:
    return page.locator("#overall-score").inner_text()


def test_live_session_with_three_phones_then_note_and_action_carry_over(
    server: LiveServer, browser: Browser, reflection: Reflection, screen: Screen
) -> None:
    page = screen.page
    page.goto(f"{server.url}/login")
    page.get_by_label("Email").fill(reflection.email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Rounds and reflection sessions")).to_be_visible()
    page.get_by_role("link", name="Rounds and reflection sessions").click()
    page.get_by_role("link", name="Reflection session").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Reflection session: 2026 H1")
    expect(page.locator("#response-count .count")).to_have_text("0")
    assert_accessible(page)
    page.evaluate("() => { window.__samePage = true }")

    # Three members answer from their phones; the screen follows without a reload.
    seen_overall = [_overall(page)]
    for index, (rating, why) in enumerate(
        (("1", "Banks want collateral"), ("5", "Our bank is helpful"), ("2", "Slow"))
    ):
        _member_submits(browser, server, reflection.links[index], reflection.round_id, rating, why)
        expect(page.locator("#response-count .count")).to_have_text(str(index + 1), timeout=POLL_TIMEOUT)
        expect(page.locator("#overall-score")).not_to_have_text(seen_overall[-1], timeout=POLL_TIMEOUT)
        seen_overall.append(_overall(page))
    assert page.evaluate("() => window.__samePage") is True
    assert len(set(seen_overall)) == 4, seen_overall  # no score, then a new score after each answer
    expect(page.locator(f"#topic-{LOANS}")).to_contain_text("Banks want collateral")
    expect(page.locator(f"#topic-{LOANS}")).to_contain_text("members disagree")  # 1, 5, 2: two camps
    page.locator("#live").scroll_into_view_if_needed()
    _shot(page, "session-live")
    page.locator(f"#topic-{LOANS}").scroll_into_view_if_needed()
    _shot(page, "session-topics")
    assert_accessible(page)

    # A note and an action, recorded on the same screen (htmx, still no reload).
    page.get_by_label("About").select_option(LOANS)
    page.get_by_label("What the cluster concluded").fill("Banks ask for collateral: talk to the guarantee fund")
    page.get_by_role("button", name="Add the note").click()
    expect(page.locator("#session-notes")).to_contain_text("talk to the guarantee fund")
    page.get_by_label("Action", exact=True).fill("Invite the guarantee fund to the next meeting")
    page.get_by_label("Owner").fill("Boon")
    page.get_by_label("Due date").fill("2026-09-30")
    page.get_by_role("button", name="Add the action").click()
    expect(page.locator("#agreed-actions")).to_contain_text("Invite the guarantee fund")
    # A note corrected in place (the button is the form's submitter: htmx must send the form, no reload).
    page.locator("#session-notes summary").first.click()
    page.get_by_label("Note", exact=True).fill("Banks ask for collateral: talk to the guarantee fund first")
    page.get_by_role("button", name="Save the correction").click()
    expect(page.locator("#session-notes")).to_contain_text("the guarantee fund first")
    assert page.evaluate("() => window.__samePage") is True
    expect(page.locator(f"#topic-{LOANS} .note")).to_contain_text("guarantee fund", timeout=POLL_TIMEOUT)
    page.locator("#plan").scroll_into_view_if_needed()
    _shot(page, "session-plan")

    # Close this round, start the next: its session opens with the open action and the last notes.
    page.get_by_role("link", name="Answers, values and links").first.click()
    expect(page.get_by_text("3 of 3 participants submitted", exact=False)).to_be_visible()
    _shot(page, "round")
    page.get_by_role("link", name="Close the round").click()
    page.get_by_role("button", name="Yes, close the round").click()
    page.get_by_role("link", name="Rounds and sessions").click()
    page.get_by_label("Name of the round").fill("2026 H2")
    page.get_by_role("button", name="Create the round").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("2026 H2")
    page.get_by_role("button", name="Open the round for answers").click()
    page.get_by_role("link", name="Open the reflection session screen").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Reflection session: 2026 H2")
    carried = page.locator("#carried-actions")
    expect(carried).to_contain_text("Invite the guarantee fund to the next meeting")
    expect(carried).to_contain_text("Boon")
    page.get_by_text("Notes of the session on 2026 H1").click()
    expect(page.locator("#previous-notes")).to_contain_text("talk to the guarantee fund")
    _shot(page, "next-round-review")
    assert_accessible(page)

    # The action is done: it leaves the review list.
    carried.get_by_label(re.compile("Status of")).select_option("done")
    carried.get_by_role("button", name="Set").click()
    expect(page.locator("#carried-actions")).not_to_contain_text("Invite the guarantee fund")


def test_setup_and_proposals_pages_are_accessible(server: LiveServer, reflection: Reflection, screen: Screen) -> None:
    page = screen.page
    page.goto(f"{server.url}/login")
    page.get_by_label("Email").fill(reflection.email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{server.url}/clusters/{reflection.cluster_id}/setup")
    expect(page.get_by_role("heading", level=1)).to_have_text("The cluster's scorecard")
    assert_accessible(page)
    _shot(page, "setup")
    page.goto(f"{server.url}/clusters/{reflection.cluster_id}/proposals")
    assert_accessible(page)
    page.goto(f"{server.url}/rounds/{reflection.round_id}/print")
    assert_accessible(page)


@pytest.mark.parametrize(
    "size", [{"width": 390, "height": 844}, {"width": 1920, "height": 1080}], ids=["phone", "projector"]
)
def test_a_proposal_that_would_break_the_odk_form_says_why(
    server: LiveServer, reflection: Reflection, browser: Browser, size: dict[str, int]
) -> None:
    with Session(server.engine) as session:
        cluster = cluster_service.get_cluster(session, reflection.cluster_id)
        member = session.exec(select(Participant).where(Participant.cluster_id == cluster.id)).first()
        assert member is not None
        data = ProposalCreate(
            csf_key=LOANS, title="Loans refused", question="How many ${loans} refused?", kpi_type="count"
        )
        scorecard = cluster_service.scorecard(session, cluster)
        proposal_service.propose(session, member, data, scorecard=scorecard, round_id=None, actor="member")
        session.commit()
    context = browser.new_context(viewport=size)  # type: ignore[arg-type]
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())  # offline venue
    page = context.new_page()
    try:
        page.goto(f"{server.url}/login")
        page.get_by_label("Email").fill(reflection.email)
        page.get_by_label("Password").fill(factories.PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{server.url}/clusters/{reflection.cluster_id}/proposals")
        page.get_by_role("button", name="Accept into the scorecard").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("This indicator would break the ODK form")
        expect(alert).to_contain_text("reference to another question")
        assert_accessible(page)
        _shot(page, f"proposal-refused-{size['width']}", full_page=True)
    finally:
        context.close()
