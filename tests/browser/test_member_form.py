"""A member answers the self-evaluation on a phone, in Chromium: with htmx autosave, and without JavaScript."""

from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from app.audit.models import AuditEvent
from app.proposals.models import IndicatorProposal
from tests import factories
from tests.browser.conftest import MemberSetup, Phone
from tests.support.live_server import LiveServer


def _choose(page: Page, name: str, value: str) -> None:
    page.wait_for_load_state()  # htmx binds autosave once the page (and htmx) has loaded
    page.locator(f'label:has(input[name="{name}"][value="{value}"])').tap()


def _status(page: Page, name: str) -> object:
    return page.locator("#st-" + name.replace(".", "-"))


def _stored(server: LiveServer, participant_id: int) -> tuple[str | None, dict[str, float | str | None]]:
    with Session(server.engine) as session:
        return factories.stored_answers(session, participant_id)


def test_member_answers_on_a_phone_with_autosave(server: LiveServer, member_setup: MemberSetup, phone: Phone) -> None:
    page = phone.page
    page.goto(member_setup.link)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome, Somchai")
    phone.shot("welcome")
    phone.audit()
    page.get_by_role("link", name="Answer or continue the self-evaluation").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Financial")
    expect(page.get_by_text("Step 1 of 4")).to_be_visible()

    # Part of step 1, each answer saved as it is given.
    _choose(page, "r.ease-of-access-to-loans", "2")
    expect(_status(page, "r.ease-of-access-to-loans")).to_have_text("Saved")
    _choose(page, "k.business-marketing-plans", "yes")
    expect(_status(page, "k.business-marketing-plans")).to_have_text("Saved")
    page.wait_for_load_state()
    page.locator("#k-loan-repayment-period").fill("18")
    page.locator("#k-loan-repayment-period").blur()
    expect(_status(page, "k.loan-repayment-period")).to_have_text("Saved")
    page.locator("#c-ease-of-access-to-loans").fill("Banks ask for collateral we do not have")
    expect(_status(page, "c.ease-of-access-to-loans")).to_have_text("Saved")  # saved while typing, after a pause
    phone.shot("step-1-partly-answered")
    phone.audit()

    # Reload: everything given is still there.
    page.reload()
    expect(page.locator('input[name="r.ease-of-access-to-loans"][value="2"]')).to_be_checked()
    expect(page.locator('input[name="k.business-marketing-plans"][value="yes"]')).to_be_checked()
    expect(page.locator("#k-loan-repayment-period")).to_have_value("18")
    expect(page.locator("#c-ease-of-access-to-loans")).to_have_value("Banks ask for collateral we do not have")

    # Step 2: a wrong percentage is explained next to the field and nothing else is lost.
    page.get_by_role("button", name="Save and continue").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Customer")
    _choose(page, "r.quality-of-goods-and-services", "4")
    page.locator("#k-customer-satisfaction").fill("180")
    page.locator("#k-customer-satisfaction").blur()
    expect(_status(page, "k.customer-satisfaction")).to_contain_text("between 0 and 100")
    phone.shot("step-2-wrong-percentage")
    page.locator("#k-customer-satisfaction").fill("80")
    page.locator("#k-customer-satisfaction").blur()
    expect(_status(page, "k.customer-satisfaction")).to_have_text("Saved")
    expect(_status(page, "r.quality-of-goods-and-services")).to_have_text("Saved")
    phone.audit()

    # Through the remaining steps to the review, then submit. The connection drops on step 3: the member
    # is told the answer is kept on the phone, and it is sent once the connection is back.
    page.get_by_role("button", name="Save and continue").tap()
    expect(page.get_by_text("Step 3 of 4")).to_be_visible()
    page.wait_for_load_state()
    phone.set_offline(True)
    _choose(page, "r.supply-chain-integration", "3")
    expect(_status(page, "r.supply-chain-integration")).to_contain_text("Kept on this phone")
    expect(page.locator("#pending")).to_contain_text("waiting to be sent")
    phone.shot("step-3-offline")
    phone.set_offline(False)
    phone.errors.clear()  # htmx rightly logs the failed request on the console
    page.get_by_role("button", name="Save and continue").tap()
    expect(page.get_by_text("Step 4 of 4")).to_be_visible()
    _choose(page, "r.innovation-levels", "4")
    expect(_status(page, "r.innovation-levels")).to_have_text("Saved")
    page.get_by_role("button", name="Save and review").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your answers")
    phone.shot("review")
    phone.audit()
    page.get_by_role("button", name="Submit my answers").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!")
    expect(page.get_by_text("How the cluster is doing so far")).to_be_visible()
    phone.shot("thanks")
    phone.audit()
    status, values = _stored(server, member_setup.participant_id)
    assert status == "submitted"
    assert values["customer-satisfaction"] == 80.0 and values["r.ease-of-access-to-loans"] == 2
    assert values["r.supply-chain-integration"] == 3  # given offline, saved by "Save and continue"

    # A correction after submitting, kept in the audit trail.
    page.get_by_role("link", name="See or correct your answers").tap()
    page.get_by_role("link", name="Change answers on “Financial”").tap()
    expect(page.get_by_text("saved as a correction")).to_be_visible()
    _choose(page, "r.ease-of-access-to-loans", "3")
    expect(_status(page, "r.ease-of-access-to-loans")).to_have_text("Saved")
    assert _stored(server, member_setup.participant_id)[1]["r.ease-of-access-to-loans"] == 3
    with Session(server.engine) as session:
        corrections = session.exec(select(AuditEvent).where(AuditEvent.action == "rating_corrected")).all()
        assert any((e.after or {}).get("rating") == 3 and (e.before or {}).get("rating") == 2 for e in corrections)

    # Propose an indicator of one's own; htmx swaps in the confirmation without a page load.
    page.goto(f"{server.url}/rounds/{member_setup.round_id}/proposals")
    phone.audit()
    page.get_by_label("Name of the indicator").fill("Joint purchases with other members")
    page.get_by_label("Which success factor does it show?").select_option("supply-chain-integration")
    page.get_by_label("What should be asked or counted?").fill("How many joint purchases did you make?")
    page.get_by_label("Kind of answer").select_option("count")
    page.evaluate("() => { window.__samePage = true }")
    page.get_by_role("button", name="Send proposal").tap()
    expect(page.get_by_text("your proposal was sent to the facilitator")).to_be_visible()
    assert page.evaluate("() => window.__samePage") is True
    expect(page.get_by_text("waiting for the facilitator")).to_be_visible()
    phone.shot("proposal-sent")
    phone.audit()
    with Session(server.engine) as session:
        proposal = session.exec(
            select(IndicatorProposal).where(IndicatorProposal.participant_id == member_setup.participant_id)
        ).one()
        assert (proposal.csf_key, proposal.kpi_type) == ("supply-chain-integration", "count")


def test_member_answers_without_javascript(
    server: LiveServer, member_setup: MemberSetup, phone_without_js: Phone
) -> None:
    phone = phone_without_js
    page = phone.page
    page.goto(member_setup.link)
    page.get_by_role("link", name="Answer or continue the self-evaluation").tap()
    _choose(page, "r.ease-of-access-to-loans", "4")
    _choose(page, "k.business-marketing-plans", "no")
    page.locator("#k-loan-repayment-period").fill("twelve")
    page.get_by_role("button", name="Save and continue").tap()
    # The same step again, the wrong value explained beside the field, what was typed kept.
    expect(page.get_by_role("alert")).to_contain_text("Some answers need another look")
    expect(_status(page, "k.loan-repayment-period")).to_have_text("Please enter a number, written like 1,234.5.")
    expect(page.locator("#k-loan-repayment-period")).to_have_value("twelve")
    expect(page.locator('input[name="r.ease-of-access-to-loans"][value="4"]')).to_be_checked()
    phone.shot("step-1-error-without-js")  # axe needs JavaScript: this page is audited in the test below
    page.locator("#k-loan-repayment-period").fill("12")
    page.get_by_role("button", name="Save and continue").tap()
    expect(page.get_by_text("Step 2 of 4")).to_be_visible()
    page.get_by_role("button", name="Back").tap()
    expect(page.locator("#k-loan-repayment-period")).to_have_value("12")
    page.goto(f"{server.url}/rounds/{member_setup.round_id}/review")
    page.get_by_role("button", name="Submit my answers").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!")
    phone.shot("thanks-without-js")
    status, values = _stored(server, member_setup.participant_id)
    assert status == "submitted"
    assert (values["r.ease-of-access-to-loans"], values["business-marketing-plans"]) == (4, 0.0)
    assert values["loan-repayment-period"] == 12.0
    # A proposal by plain form post.
    page.goto(f"{server.url}/rounds/{member_setup.round_id}/proposals")
    page.get_by_label("Name of the indicator").fill("Shared cold storage used")
    page.get_by_label("Which success factor does it show?").select_option("cost-control")
    page.get_by_role("button", name="Send proposal").tap()
    expect(page.get_by_text("your proposal was sent to the facilitator")).to_be_visible()


def test_every_member_page_is_accessible_and_fits_a_small_zoomed_screen(
    server: LiveServer, member_setup: MemberSetup, phone: Phone
) -> None:
    page = phone.page
    page.goto(member_setup.link)
    base = f"{server.url}/rounds/{member_setup.round_id}"
    pages = [f"{base}/answer/{step}" for step in (1, 2, 3, 4)]
    pages += [f"{base}/review", f"{base}/proposals", f"{base}/thanks", f"{server.url}/", f"{server.url}/join"]
    pages += [f"{server.url}/m/not-a-valid-link"]
    # 200% zoom on a 360 px phone is a 180 CSS px wide screen.
    page.set_viewport_size({"width": 180, "height": 740})
    for url in pages:
        page.goto(url)
        phone.audit()
        phone.shot(url.rsplit("/", 2)[-1] + "-zoom-200")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{url} scrolls sideways at 200% zoom ({overflow}px)"
    page.set_viewport_size({"width": 360, "height": 740})
    # The page that explains a wrong value (a plain post, as without JavaScript).
    page.goto(f"{base}/answer/1")
    page.locator("#k-loan-repayment-period").fill("twelve")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_role("alert")).to_contain_text("Some answers need another look")
    phone.audit()
    # Touch targets: every button, field and answer choice at least 44 px high (WCAG 2.5.5).
    small = page.evaluate(
        """() => [...document.querySelectorAll(
                   'main button, main select, main textarea, main input[type=text], main .point span.num, '
                   + 'main .choice span, main a.button')]
              .filter(e => e.offsetParent !== null)
              .map(e => [e.outerHTML.slice(0, 60), e.getBoundingClientRect().height])
              .filter(([, h]) => h < 44)"""
    )
    assert small == []
    # The skip link and visible focus: tabbing once lands on the skip link, which becomes visible.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    assert page.evaluate("() => document.activeElement.getBoundingClientRect().width") > 1
