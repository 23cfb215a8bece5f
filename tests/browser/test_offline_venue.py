"""A venue without internet: every address but the app's own is cut, and nothing the app serves needs one.

The member's form autosaves, the session screen updates itself, and the API documentation (/docs, /redoc)
renders, all in Chromium with every non-loopback request aborted and recorded (none may even be tried).
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect
from sqlmodel import Session

from tests import factories
from tests.browser.conftest import PHONE, SIZES
from tests.browser.test_reflection_session import LOANS, POLL_TIMEOUT
from tests.support.live_server import LiveServer

LOOPBACK = re.compile(r"^(https?|wss?)://127\.0\.0\.1[:/]")


@dataclass
class Cut:
    """A browser context whose only reachable site is the app; console errors (CSP too) and tries recorded."""

    context: BrowserContext
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def page(self) -> Page:
        page = self.context.new_page()
        page.on("console", lambda m: self.errors.append(f"{m.text} @ {page.url}") if m.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page


def _cut_context(browser: Browser, **options: object) -> Cut:
    cut = Cut(browser.new_context(**options))  # type: ignore[arg-type]

    def only_loopback(route: Route) -> None:
        if LOOPBACK.match(route.request.url) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            cut.outside.append(route.request.url)
            route.abort("internetdisconnected")

    cut.context.route("**/*", only_loopback)
    return cut


@pytest.fixture
def offline(browser: Browser) -> Iterator[Cut]:
    cut = _cut_context(browser, viewport=SIZES["projector"])
    yield cut
    cut.context.close()
    assert cut.outside == [] and cut.errors == [], (cut.outside, cut.errors)


def test_api_documentation_renders_without_internet(server: LiveServer, offline: Cut) -> None:
    page = offline.page()
    page.goto(f"{server.url}/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)  # operations read from /openapi.json
    expect(page.get_by_text("/api/v1/templates", exact=True).first).to_be_visible()
    page.goto(f"{server.url}/redoc")
    expect(page.get_by_role("heading", name=re.compile("ClusterScore"))).to_be_visible(timeout=20_000)
    expect(page.get_by_text("/api/v1/templates").first).to_be_attached()
    # ReDoc's "powered by" logo is an absolute CDN address inside its bundle: the policy refuses it, and that
    # refusal is the only message allowed (the page is complete without the logo).
    logo = [e for e in offline.errors if "cdn.redoc.ly/redoc/logo-mini.svg" in e and "Content Security Policy" in e]
    assert len(logo) <= 1
    offline.errors[:] = [e for e in offline.errors if e not in logo]


def test_member_autosaves_and_the_session_screen_updates_in_place_without_internet(
    server: LiveServer, browser: Browser, offline: Cut
) -> None:
    """The room's projector shows a comment list someone opened, scrolled down to it; a member answers on a phone
    (autosave, then submit) with no internet; the screen takes the new answer in place: the list stays open,
    shows the new comment, and the page has not moved."""
    with Session(server.engine) as session:
        cluster = factories.cluster(session, name="Offline Venue Cluster")
        round_ = factories.open_round(session, cluster)
        early = [factories.participant(session, cluster, organisation=f"Early {n}") for n in (1, 2)]
        for member, why in zip(early, ("Collateral is the problem", "Slow banks"), strict=True):
            factories.submitted(session, round_, member, answers={}, ratings={LOANS: 3}, comments={LOANS: why})
        link = factories.member_link(session, factories.participant(session, cluster, organisation="Late Firm"))
        facilitator = factories.user(session, grants=(("facilitator", cluster),))
        session.commit()
        email, round_id = facilitator.email, round_.id

    screen = offline.page()
    screen.goto(f"{server.url}/login")
    screen.get_by_label("Email").fill(email)
    screen.get_by_label("Password").fill(factories.PASSWORD)
    screen.get_by_role("button", name="Log in").click()
    screen.goto(f"{server.url}/rounds/{round_id}/session")
    expect(screen.locator("#response-count .count")).to_have_text("2")
    comments = screen.locator(f"#topic-{LOANS} details")
    expect(comments).not_to_have_attribute("open", "")  # 3 and 3: nothing contested, the list starts closed
    comments.locator("summary").click()
    expect(comments).to_have_attribute("open", "")
    screen.evaluate("() => { window.__samePage = true }")
    scrolled = screen.evaluate("() => window.scrollY")
    assert scrolled > 200  # the topic is far down the page: a jump would show

    phone = _cut_context(browser, **PHONE)
    try:
        page = phone.page()
        page.goto(f"{server.url}{link}")
        page.goto(f"{server.url}/rounds/{round_id}/answer/1")
        page.wait_for_load_state()
        page.locator(f'label:has(input[name="r.{LOANS}"][value="4"])').tap()
        expect(page.locator(f"#st-r-{LOANS}")).to_have_text("Saved")  # autosave through the local htmx
        page.locator(f"#c-{LOANS}").fill("The new guarantee fund helps")
        page.locator(f"#c-{LOANS}").blur()
        expect(page.locator(f"#st-c-{LOANS}")).to_have_text("Saved")
        page.goto(f"{server.url}/rounds/{round_id}/review")
        page.get_by_role("button", name="Submit my answers").tap()
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!")
    finally:
        phone.context.close()
    assert phone.outside == [] and phone.errors == [], (phone.outside, phone.errors)

    expect(screen.locator("#response-count .count")).to_have_text("3", timeout=POLL_TIMEOUT)
    expect(comments).to_contain_text("The new guarantee fund helps")
    expect(comments).to_have_attribute("open", "")
    assert screen.evaluate("() => window.scrollY") == scrolled
    assert screen.evaluate("() => window.__samePage") is True
