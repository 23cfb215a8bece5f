"""Issue 21's walk in Chromium, at phone (390x844) and projector (1920x1080) sizes with every other site blocked and
axe clean on each new page: an administrator invites a facilitator (the mail lands in a real SMTP sink), who sets a
password from the link, creates a round with dates, imports 20 participants from a CSV file, emails them their
links (20 messages), a member answers on a phone from their email, and the round closes after a confirmation."""

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session

from app.rounds.models import Round
from tests import factories
from tests.browser.conftest import SIZES, Screen, assert_accessible
from tests.support.live_server import LiveServer, live_server
from tests.support.smtp_sink import SmtpSink, smtp_sink


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with smtp_sink() as running:
        yield running


@pytest.fixture(scope="module")
def mailing_server(tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink) -> Iterator[LiveServer]:
    smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(sink.port), "SMTP_SECURITY": "none"}
    with live_server(tmp_path_factory.mktemp("mailing"), env=smtp) as running:
        yield running


def _log_in(page: Page, server: LiveServer, email: str) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def _check(screen: Screen, name: str) -> None:
    """Once loaded: axe clean, a screenshot, and nothing wider than the screen (tables scroll inside themselves)."""
    screen.page.wait_for_load_state()
    screen.check(name)


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].partition("/")[2]


def test_from_invitation_to_a_closed_round(
    mailing_server: LiveServer, sink: SmtpSink, screen: Screen, browser: Browser, tmp_path: Path
) -> None:
    server, page, run = mailing_server, screen.page, uuid.uuid4().hex[:6]
    with Session(server.engine) as session:
        programme = factories.programme(session, name=f"Northern food programme {run}")
        cluster = factories.cluster(session, in_programme=programme, name=f"Chiang Mai coffee {run}")
        admin = factories.user(session, is_admin=True)
        session.commit()
        admin_email, cluster_id, programme_id = admin.email, cluster.id, programme.id

    # An administrator sets up the cluster's facilitator.
    _log_in(page, server, admin_email)
    page.goto(f"{server.url}/programmes/{programme_id}/clusters/new")
    _check(screen, "cluster-new")
    page.goto(f"{server.url}/people")
    facilitator = f"ana-{run}@example.org"
    page.get_by_label("Email").fill(facilitator)
    page.get_by_label("Name", exact=True).fill("Ana Facilitator")
    page.get_by_label("Role", exact=True).select_option("facilitator")
    page.get_by_label("For", exact=True).select_option(f"cluster:{cluster_id}")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.get_by_role("status")).to_contain_text(f"Invitation sent to {facilitator}")
    _check(screen, "people")
    (invitation,) = sink.to(facilitator)
    setup_link = re.search(r"http://\S+/account/setup/\S+", SmtpSink.body(invitation)).group(0)  # type: ignore[union-attr]
    page.get_by_role("button", name="Log out").click()

    # The facilitator chooses a password from the link and is logged in.
    page.goto(f"{server.url}{_path(setup_link)}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Ana Facilitator")
    _check(screen, "set-password")
    page.get_by_label("New password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Save my password and log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your cluster initiatives")

    # A round with its answering dates; a date in the wrong order is refused next to the field, typing kept.
    page.goto(f"{server.url}/clusters/{cluster_id}/rounds")
    page.get_by_label("Name of the round").fill("2027 H1")
    page.get_by_label("Answers from").fill("2027-03-01")
    page.get_by_label("Last day for answers").fill("2027-02-01")
    page.get_by_role("button", name="Create the round").click()
    expect(page.locator("#closes_on-error")).to_have_text("The last day for answers cannot be before the first.")
    expect(page.get_by_label("Name of the round")).to_have_value("2027 H1")
    _check(screen, "round-new-refused")
    page.get_by_label("Last day for answers").fill("2027-03-31")
    page.get_by_role("button", name="Create the round").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("2027 H1")
    page.get_by_role("button", name="Open the round for answers").click()
    round_id = int(re.search(r"/rounds/(\d+)/manage", page.url).group(1))  # type: ignore[union-attr]
    _check(screen, "round-manage")
    # The scorecard's KPIs, a form per row: the table scrolls inside its own box on a phone.
    page.goto(f"{server.url}/clusters/{cluster_id}/setup")
    expect(page.locator("table.kpis").first).to_be_visible()
    _check(screen, "scorecard")

    # Twenty participants from a CSV file, previewed first.
    members = [(f"Coffee farm {n} {run}", f"Owner {n}", f"farm{n}-{run}@example.org") for n in range(1, 21)]
    csv_file = tmp_path / "members.csv"
    csv_file.write_text("Organisation,Contact,Email\n" + "".join(f"{o},{p},{e}\n" for o, p, e in members))
    page.goto(f"{server.url}/clusters/{cluster_id}/participants")
    page.get_by_role("link", name="Import a list").click()
    page.get_by_label("or choose a file").set_input_files(csv_file)
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("20 participants will be added.")).to_be_visible()
    _check(screen, "import-preview")
    page.get_by_role("button", name="Import 20 participants").click()
    expect(page.get_by_role("status")).to_contain_text("20 participants added.")
    page.get_by_role("link", name="See the participants").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Participants")
    _check(screen, "participants")

    # Their links, by email: the confirmation says who gets one and that nobody loses a working link.
    page.goto(f"{server.url}/rounds/{round_id}/manage")
    page.get_by_role("link", name="Email links to those without one").click()
    expect(page.get_by_text("20 participants get a new link:")).to_be_visible()
    expect(page.get_by_text("Nobody loses a working link.")).to_be_visible()
    _check(screen, "links-confirm")
    page.get_by_role("button", name="Send 20 emails").click()
    expect(page.get_by_role("status")).to_contain_text("20 emails sent.")
    mails = [m for m in sink.messages if m["To"].endswith(f"-{run}@example.org") and m["To"].startswith("farm")]
    assert sorted(m["To"] for m in mails) == sorted(e for _o, _p, e in members)

    # A member opens theirs on a phone and answers.
    member_link = re.search(r"http://\S+/m/\S+", SmtpSink.body(sink.to(members[0][2])[0])).group(0)  # type: ignore[union-attr]
    phone = browser.new_context(viewport=SIZES["phone"], is_mobile=True, has_touch=True)
    phone.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url else route.abort())
    member = phone.new_page()
    member.goto(f"{server.url}{_path(member_link)}")
    expect(member.get_by_text("Please answer by March 31, 2027.")).to_be_visible()
    assert_accessible(member)
    member.get_by_role("link", name="Answer or continue the self-evaluation").tap()
    member.wait_for_load_state()
    member.locator('label:has(input[name="r.ease-of-access-to-loans"][value="4"])').tap()
    for _step in range(3):
        member.get_by_role("button", name="Save and continue").tap()
    member.get_by_role("button", name="Save and review").tap()
    member.get_by_role("button", name="Submit my answers").tap()
    expect(member.get_by_role("heading", level=1)).to_have_text("Thank you!")
    phone.close()

    # The round closes only after the confirmation, which counts who has not submitted.
    page.goto(f"{server.url}/rounds/{round_id}/manage")
    expect(page.get_by_text("of 20 participants submitted")).to_be_visible()
    page.get_by_role("link", name="Close the round").click()
    expect(page.get_by_text("19 participants have not submitted")).to_be_visible()
    _check(screen, "close-confirm")
    page.get_by_role("button", name="Yes, close the round").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("closed")
    with Session(server.engine) as session:
        assert session.get(Round, round_id).status == "closed"  # type: ignore[union-attr]
