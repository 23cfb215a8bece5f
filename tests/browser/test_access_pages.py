"""The pages of issue 20 in Chromium, on a phone (390 px) and a projector (1920x1080), other sites blocked, axe
clean: API tokens, the question before a staff browser opens a member link, an observer's round page, and a
facilitator's comparison with its peers."""

import uuid

from playwright.sync_api import Page, expect
from sqlmodel import Session

from tests import factories
from tests.browser.conftest import Screen
from tests.integration.benchmarks.world import rated_cluster
from tests.support.live_server import LiveServer


def _log_in(page: Page, server: LiveServer, email: str) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_tokens_and_the_member_link_question(server: LiveServer, screen: Screen) -> None:
    page = screen.page
    with Session(server.engine) as session:
        cluster = factories.cluster(session)
        member = factories.participant(session, cluster, organisation="Mae Ploy Foods")
        factories.open_round(session, cluster)
        link = factories.member_link(session, member)
        facilitator = factories.user(session, grants=(("facilitator", cluster),))
        session.commit()
        email = facilitator.email
    _log_in(page, server, email)

    page.goto(f"{server.url}/account/tokens")
    page.get_by_label("Name (what the token is for)").fill("Nightly export to the agency's sheet")
    page.get_by_role("button", name="Create a token").click()
    expect(page.get_by_text("it is shown only this once")).to_be_visible()
    screen.check("tokens-new")
    page.goto(f"{server.url}/account/tokens")
    expect(page.get_by_role("button", name="Revoke Nightly export to the agency's sheet")).to_be_visible()
    screen.check("tokens-list")

    page.goto(f"{server.url}{link}")
    expect(page.get_by_role("button", name="Log out and continue as the member")).to_be_visible()
    expect(page.get_by_text("Mae Ploy Foods")).to_be_visible()
    screen.check("member-link-question")
    page.get_by_role("link", name="Stay logged in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_an_observers_round_page(server: LiveServer, screen: Screen) -> None:
    page = screen.page
    with Session(server.engine) as session:
        cluster = factories.cluster(session)
        for name in ("Mae Ploy Foods", "Chiang Mai Sauces", "Lanna Rice"):
            factories.participant(session, cluster, organisation=name)
        round_ = factories.open_round(session, cluster)
        observer = factories.user(session, grants=(("observer", cluster),))
        session.commit()
        email, round_id = observer.email, round_.id
    _log_in(page, server, email)
    page.goto(f"{server.url}/rounds/{round_id}/manage")
    expect(page.get_by_text("of 3 participants submitted")).to_be_visible()
    assert "Mae Ploy Foods" not in page.content()
    screen.check("observer-round")


def test_a_facilitators_comparison_with_peers(server: LiveServer, screen: Screen) -> None:
    """Three peers in the same sector (the live server is shared, so the sector is this run's own): the two outer
    quartiles and the position band; the median, the middle peer's own figure, withheld and the page says why."""
    page = screen.page
    sector = f"Street food {uuid.uuid4().hex[:6]}"
    with Session(server.engine) as session:
        programme = factories.programme(session)
        own = rated_cluster(session, programme, 3, name="Bangkok street food", sector=sector)
        for rating in (1, 2, 5):
            rated_cluster(session, programme, rating, name=f"Peer {rating}", sector=sector)
        facilitator = factories.user(session, grants=(("facilitator", own),))
        session.commit()
        email, cluster_id = facilitator.email, own.id
    _log_in(page, server, email)
    page.goto(f"{server.url}/benchmarks/clusters/{cluster_id}?same=sector")
    expect(page.get_by_text("would be one peer's own figure")).to_be_visible()
    overall = page.locator("#results table tbody tr").first
    expect(overall).to_contain_text("between the lower quartile and the upper quartile")
    expect(overall.locator("td").nth(1)).to_have_text("3")
    assert "Peer 1" not in page.content()
    screen.check("profile")
    page.locator("#results table").first.screenshot(path=screen.shots / "profile-table.png")
