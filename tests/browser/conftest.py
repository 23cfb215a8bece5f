"""Real browser tests: Playwright drives Debian's Chromium against the app under uvicorn.

Playwright cannot download its own browsers here, so it launches /usr/bin/chromium (`.ci/run` installs
it with apt when missing). Members are simulated on a phone: small touch viewport and a throttled
3G-like network. Screenshots of each step go to test-output/browser/ for reviewing.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, Route, sync_playwright
from playwright.sync_api import Response as PlaywrightResponse
from sqlmodel import Session

from app.config import ROOT
from tests import factories
from tests.support.live_server import LiveServer, live_server

CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "test-output" / "browser"
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Mobile Safari/537.36",
}
# A fair 3G connection. DevTools takes bytes per second, not kbit/s.
THROTTLED_3G = {
    "offline": False,
    "latency": 150,
    "downloadThroughput": 1_600_000 // 8,
    "uploadThroughput": 750_000 // 8,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not AXE.exists():
        pytest.skip("axe-core missing: run `make assets` (from the npm registry, for the accessibility audit)")
    with live_server(tmp_path_factory.mktemp("live")) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium not installed at /usr/bin/chromium: `apt-get install -y chromium` (.ci/run does it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@dataclass
class Phone:
    """A member's phone: one browser context, console errors collected, screenshots numbered."""

    context: BrowserContext
    page: Page
    cdp: CDPSession
    errors: list[str]
    shots: Path
    count: int = 0
    offline: bool = False

    def set_offline(self, offline: bool) -> None:
        """Through CDP network emulation: the page's own throttling and Playwright's (which covers
        the service worker) both have to say offline. A route refuses every request besides, which
        also turns the browser's HTTP cache off: what opens offline is what the service worker kept,
        as on a full phone whose cache keeps nothing for long."""
        self.cdp.send("Network.emulateNetworkConditions", {**THROTTLED_3G, "offline": offline})
        self.context.set_offline(offline)
        if offline and not self.offline:
            self.context.route("**/*", _disconnected)
        elif self.offline and not offline:
            self.context.unroute("**/*", _disconnected)
        self.offline = offline

    def shot(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(path=self.shots / f"{self.count:02d}-{name}.png", full_page=True)

    def audit(self) -> None:
        """axe-core on the current page: no violations at all (WCAG 2.x A and AA rules and best practice)."""
        assert_accessible(self.page)


def _disconnected(route: Route) -> None:
    route.abort("internetdisconnected")


def assert_accessible(page: Page) -> None:
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate("async () => (await axe.run(document)).violations")
    summary = [{"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in result]
    assert summary == [], f"axe violations on {page.url}:\n{json.dumps(summary, indent=2)}"


def _unexpected(kind: str, text: str) -> bool:
    # Chromium logs every 4xx page as an error, including those a test asks for on purpose (a form
    # sent back with its mistakes marked, an invalid link); failed subresources are caught below.
    return kind == "error" and not text.startswith("Failed to load resource")


def _failed_subresource(response: PlaywrightResponse) -> bool:
    return response.status >= 400 and response.request.resource_type != "document"


def _phone(browser: Browser, request: pytest.FixtureRequest, *, javascript: bool) -> Iterator[Phone]:
    context = browser.new_context(**PHONE, java_script_enabled=javascript)  # type: ignore[arg-type]
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", THROTTLED_3G)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if _unexpected(message.type, message.text) else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if _failed_subresource(r) else None)
    shots = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shots.mkdir(parents=True, exist_ok=True)
    phone = Phone(context=context, page=page, cdp=cdp, errors=errors, shots=shots)
    yield phone
    context.close()
    # Also catches Content-Security-Policy violations, which Chromium reports on the console.
    assert errors == [], errors


@pytest.fixture
def phone(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Phone]:
    yield from _phone(browser, request, javascript=True)


@pytest.fixture
def phone_without_js(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Phone]:
    yield from _phone(browser, request, javascript=False)


@dataclass
class MemberSetup:
    link: str
    cluster_id: int
    participant_id: int
    round_id: int


@pytest.fixture
def member_setup(server: LiveServer) -> MemberSetup:
    """A Thai food cluster with an open round and one member holding a personal link."""
    with Session(server.engine) as session:
        cluster = factories.cluster(session)
        participant = factories.participant(session, cluster, person_name="Somchai")
        round_ = factories.open_round(session, cluster)
        link = factories.member_link(session, participant)
        session.commit()
        assert cluster.id and participant.id and round_.id
        return MemberSetup(f"{server.url}{link}", cluster.id, participant.id, round_.id)


SIZES = {"phone": {"width": 390, "height": 844}, "projector": {"width": 1920, "height": 1080}}


@dataclass
class Screen:
    """A staff page at one size, with every other site blocked; `check` runs axe, checks that nothing but a table's
    own scrolling box is wider than the screen, and keeps a screenshot."""

    page: Page
    shots: Path

    def check(self, name: str) -> None:
        assert_accessible(self.page)
        overflow = self.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: the page is {overflow}px wider than the screen"
        self.page.screenshot(path=self.shots / f"{name}.png", full_page=True)


@pytest.fixture(params=list(SIZES))
def screen(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Screen]:
    context = browser.new_context(viewport=SIZES[request.param])  # type: ignore[arg-type]
    # Only this site: every other address fails, as it would in a venue without internet.
    context.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url else route.abort())
    shots = SCREENSHOTS / f"{request.module.__name__.rsplit('.', 1)[-1].removeprefix('test_')}_{request.param}"
    shots.mkdir(parents=True, exist_ok=True)
    yield Screen(context.new_page(), shots)
    context.close()
