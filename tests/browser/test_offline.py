"""Offline in the browser: the form opens, answers and the submission wait on the phone, then arrive once."""

from playwright.sync_api import expect
from sqlmodel import Session, select

from app.responses.models import AnswerChange, Response
from tests.browser.conftest import MemberSetup, Phone
from tests.browser.test_member_form import _choose, _status, _stored
from tests.support.live_server import LiveServer


def test_answer_and_submit_offline_then_send_when_back_online(
    server: LiveServer, member_setup: MemberSetup, phone: Phone
) -> None:
    page = phone.page
    base = f"{server.url}/rounds/{member_setup.round_id}"
    page.goto(member_setup.link)
    page.goto(f"{base}/answer/1")
    # First visit online: the service worker takes over and keeps every step and the review page.
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.wait_for_function(f"async () => !!(await caches.match('{base}/review'))", polling=200)

    phone.set_offline(True)  # network emulation through CDP, service worker included
    _choose(page, "r.ease-of-access-to-loans", "5")
    expect(_status(page, "r.ease-of-access-to-loans")).to_contain_text("Kept on this phone")
    page.locator("#k-loan-repayment-period").fill("24")
    page.get_by_role("button", name="Save and continue").tap()
    expect(page.get_by_text("Step 2 of 4")).to_be_visible()  # the kept copy of step 2
    _choose(page, "k.online-trading", "yes")
    expect(_status(page, "k.online-trading")).to_contain_text("Kept on this phone")
    page.goto(f"{base}/review")
    page.get_by_role("button", name="Submit my answers").tap()
    expect(page.locator("#pending")).to_contain_text("changes waiting to be sent")
    phone.shot("offline-submitted")

    # The tab is closed and opened again, still offline: everything given is still there. The form is left
    # first: closing a tab detaches its DevTools sessions, which ends the offline emulation while the page
    # still runs, and the page, told it is online, would send what it kept (a phone's network stays down).
    page.goto("about:blank")
    page.close()
    page = phone.context.new_page()
    phone.page, phone.cdp = page, phone.context.new_cdp_session(page)
    phone.set_offline(True)
    page.goto(f"{base}/answer/1")
    expect(page.locator('input[name="r.ease-of-access-to-loans"][value="5"]')).to_be_checked()
    expect(page.locator("#k-loan-repayment-period")).to_have_value("24")
    expect(page.locator("#pending")).to_be_visible()
    expect(_status(page, "c.ease-of-access-to-loans")).to_be_empty()  # the "Why?" left empty is not kept
    phone.shot("reopened-offline")
    with Session(server.engine) as session:
        assert (
            session.exec(select(Response).where(Response.participant_id == member_setup.participant_id)).first() is None
        )

    # Back online: the queue is sent in order, the submission last, and the member lands on the thank-you page.
    phone.set_offline(False)
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!", timeout=15_000)
    phone.shot("sent-when-online")
    phone.errors.clear()  # htmx rightly logged the autosaves that could not be sent
    status, values = _stored(server, member_setup.participant_id)
    assert status == "submitted"
    answered = {name: value for name, value in values.items() if not name.startswith("c.") and value is not None}
    assert answered == {"r.ease-of-access-to-loans": 5, "loan-repayment-period": 24.0, "online-trading": 1.0}
    with Session(server.engine) as session:
        ids = [c.client_id for c in session.exec(select(AnswerChange))]
        assert len(ids) == len(set(ids))  # nothing recorded twice
