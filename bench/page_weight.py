"""What a member's phone downloads: bytes and requests of a form step's first load, and of one autosave.

Measured in Debian's Chromium (Playwright's request sizes: headers plus the body as sent on the wire,
i.e. gzip-compressed where the app compresses) against the app under uvicorn, on the Thai food
cluster template (11 CSFs, 26 KPIs). htmx is the app's own copy (static/vendor), as every install serves it.

Budgets (issue 4): first load <= 40 KB in <= 4 requests; one autosave <= 2 KB round trip.
Run: make bench-page
"""

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, Request, sync_playwright
from sqlmodel import Session

from tests import factories
from tests.browser.conftest import CHROMIUM, PHONE
from tests.support.live_server import live_server

FIRST_LOAD_BUDGET_BYTES = 40 * 1024
FIRST_LOAD_BUDGET_REQUESTS = 4
AUTOSAVE_BUDGET_BYTES = 2 * 1024


@dataclass
class Transfer:
    url: str
    request_bytes: int
    response_bytes: int


def _transfer(request: Request) -> Transfer:
    sizes = request.sizes()
    return Transfer(
        url=request.url,
        request_bytes=sizes["requestHeadersSize"] + sizes["requestBodySize"],
        response_bytes=sizes["responseHeadersSize"] + sizes["responseBodySize"],
    )


def _record(page: Page) -> list[Transfer]:
    seen: list[Transfer] = []
    page.on("requestfinished", lambda request: seen.append(_transfer(request)))
    return seen


def _report(title: str, transfers: list[Transfer]) -> tuple[int, int]:
    print(f"\n{title}")
    for t in [t for t in transfers if t.response_bytes == 0]:
        print(f"  {'from the cache, no request':>33}  {t.url.split('//', 1)[1]}")
    transfers = [t for t in transfers if t.response_bytes > 0]
    for t in transfers:
        print(f"  {t.response_bytes:>7,} B down {t.request_bytes:>6,} B up  {t.url.split('//', 1)[1]}")
    down = sum(t.response_bytes for t in transfers)
    total = down + sum(t.request_bytes for t in transfers)
    print(f"  {len(transfers)} requests, {down:,} B received, {total:,} B both ways")
    return len(transfers), total


def main() -> int:
    if not CHROMIUM.exists():
        print("Chromium is missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    with live_server(Path(tempfile.mkdtemp(prefix="bench-page-"))) as server, sync_playwright() as playwright:
        with Session(server.engine) as session:
            cluster = factories.cluster(session, template_key="thai-food-cluster")
            member = factories.participant(session, cluster)
            round_ = factories.open_round(session, cluster)
            link = factories.member_link(session, member)
            session.commit()
            round_id = round_.id
        step_url = f"{server.url}/rounds/{round_id}/answer/1"
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        # Log in through the personal link in one context, then load the form in a fresh one:
        # same session cookie, empty cache, as on the member's first visit to the form.
        login = browser.new_context(**PHONE)  # type: ignore[arg-type]
        login.new_page().goto(f"{server.url}{link}")
        cookies = login.cookies()
        login.close()

        context = browser.new_context(**PHONE)  # type: ignore[arg-type]
        context.add_cookies(cookies)  # type: ignore[arg-type]
        page = context.new_page()
        everything: list[Transfer] = []
        context.on("requestfinished", lambda request: everything.append(_transfer(request)))
        seen = _record(page)
        page.goto(step_url, wait_until="networkidle")
        first_requests, first_bytes = _report("First load of a form step (empty cache)", seen)
        page.wait_for_function(f"async () => !!(await caches.match('/rounds/{round_id}/review'))")
        page_urls = {t.url for t in seen}
        kept = [t for t in everything if t.url not in page_urls and t.response_bytes > 0]
        _report("Then, in the background: the service worker keeps the other steps for offline use", kept)

        seen.clear()
        page.locator('label:has(input[name="r.ease-of-access-to-loans"][value="3"])').click()
        page.locator("#st-r-ease-of-access-to-loans").get_by_text("Saved").wait_for()
        page.wait_for_load_state("networkidle")
        autosaves = [t for t in seen if t.url.endswith("/autosave")]
        _requests, autosave_bytes = _report("One autosave (a CSF rating)", autosaves)

        seen.clear()
        page.goto(f"{server.url}/rounds/{round_id}/answer/2", wait_until="networkidle")
        _report("Next step (static files from the cache)", seen)
        browser.close()

    print("\nAgainst the budgets of issue 4 (ratio = measured / budget, <= 1.00 passes):")
    rows = [
        ("first load, bytes", first_bytes, FIRST_LOAD_BUDGET_BYTES),
        ("first load, requests", first_requests, FIRST_LOAD_BUDGET_REQUESTS),
        ("autosave round trip, bytes", autosave_bytes, AUTOSAVE_BUDGET_BYTES),
    ]
    for name, measured, budget in rows:
        print(f"  {name:<28} {measured:>8,} / {budget:>6,} = {measured / budget:.2f}")
    return 0 if all(measured <= budget for _name, measured, budget in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
