"""Arabic right to left and Thai in Chromium: a member answers in Arabic on a phone (mirrored layout, Arabic-Indic
digits from an Egyptian phone, axe), and the staff pages in Thai and Arabic on a projector carry their subset font
so the letters render on a machine without those scripts, with every other site blocked.

With CLUSTERSCORE_DOC_SHOTS=1 the screenshots are written to docs/img/ as well.
"""

import os
import shutil
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlmodel import Session, select

from app.config import ROOT
from app.responses.models import Answer
from tests import factories
from tests.browser.conftest import PHONE, SCREENSHOTS, assert_accessible
from tests.support.live_server import LiveServer

DOC_SHOTS = ROOT / "docs" / "img"
FOR_THE_DOCS = {"arabic-member-step", "arabic-member-answers", "thai-setup-projector", "arabic-setup-projector"}


def _shot(page: Page, name: str, *, full_page: bool = True) -> None:
    path = SCREENSHOTS / "scripts" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=full_page)
    if os.environ.get("CLUSTERSCORE_DOC_SHOTS") == "1" and name in FOR_THE_DOCS:
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOC_SHOTS / f"{name}.png")


def _only(server: LiveServer) -> Callable[[Route], None]:
    """Nothing but the app answers, as in a venue without internet."""
    return lambda route: route.continue_() if route.request.url.startswith(server.url) else route.abort()


@pytest.fixture
def egyptian_phone(browser: Browser, server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(**PHONE, locale="ar-EG")  # type: ignore[arg-type]
    context.route("**/*", _only(server))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []


def _box(page: Page, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


def test_member_answers_in_arabic_right_to_left(egyptian_phone: Page, server: LiveServer) -> None:
    with Session(server.engine) as session:
        cluster = factories.cluster(session, template_key="dti-cluster-monitoring", name="تجمع الأثاث في دمياط")
        member = factories.participant(session, cluster, person_name="منى", language="ar")
        factories.open_round(session, cluster, label="2026 H1")
        link = factories.member_link(session, member)
        session.commit()
    page = egyptian_phone
    page.goto(f"{server.url}{link}")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_role("heading", level=1)).to_have_text("أهلًا بك، منى")
    page.get_by_role("link", name="أجب عن التقييم الذاتي أو تابعه").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("الابتكار والبحث والتطوير")
    # Egypt writes Arabic-Indic digits: "step 1 of 4".
    expect(page.get_by_text("الخطوة \u0661 من \u0664")).to_be_visible()

    # Right to left: a short line ("step 1 of 4") starts at the right edge, the scale runs from 1 on the right
    # to 5 on the left.
    width = page.viewport_size["width"] if page.viewport_size else 360
    left, right = page.evaluate(
        "() => { const r = document.createRange(); r.selectNodeContents(document.querySelector('.progress p'));"
        " const b = r.getBoundingClientRect(); return [b.left, b.right]; }"
    )
    assert right > width - 40 and left > width / 2, (left, right)
    one, five = (_box(page, f'label:has(input[name="r.rd-investment"][value="{v}"])') for v in ("1", "5"))
    assert one["x"] > five["x"]
    assert_accessible(page)
    _shot(page, "arabic-member-step", full_page=False)

    page.locator('label:has(input[name="r.rd-investment"][value="4"])').tap()
    expect(page.locator("#st-r-rd-investment")).to_have_text("تم الحفظ")
    field = page.locator("#k-rd-share-of-turnover")
    field.fill("\u0661\u0662\u066b\u0665")  # what an Egyptian keyboard types
    field.blur()
    expect(page.locator("#st-k-rd-share-of-turnover")).to_have_text("تم الحفظ")
    field.fill("\u0662\u0660\u0660")
    field.blur()
    expect(page.locator("#st-k-rd-share-of-turnover")).to_have_text("يرجى إدخال نسبة مئوية بين 0 و100.")
    field.fill("12.5")
    field.blur()
    expect(page.locator("#st-k-rd-share-of-turnover")).to_have_text("تم الحفظ")
    assert_accessible(page)
    _shot(page, "arabic-member-answers")

    page.get_by_role("link", name="عرض كل إجاباتك").tap()
    expect(page.get_by_role("heading", level=1)).to_have_text("إجاباتك")
    expect(page.locator("main")).to_contain_text("12.5")  # as the field shows it, to be typed over
    assert_accessible(page)
    _shot(page, "arabic-member-review")
    with Session(server.engine) as session:
        answer = session.exec(select(Answer).where(Answer.kpi_key == "rd-share-of-turnover")).one()
        assert answer.value_num == 12.5


@pytest.mark.parametrize(
    ("language", "template_key", "script", "sample"),
    [("th", "thai-food-cluster", "Thai", "ด้านการเงิน"), ("ar", "dti-cluster-monitoring", "Arabic", "الموارد البشرية")],
)
def test_staff_pages_render_thai_and_arabic_with_the_apps_own_font(
    browser: Browser, server: LiveServer, language: str, template_key: str, script: str, sample: str
) -> None:
    with Session(server.engine) as session:
        cluster = factories.cluster(session, template_key=template_key)
        facilitator = factories.user(session, grants=(("facilitator", cluster),))
        facilitator.language = language
        session.add(facilitator)
        session.commit()
        cluster_id, email = cluster.id, facilitator.email
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    context.route("**/*", _only(server))
    page = context.new_page()
    fonts: list[str] = []
    page.on("request", lambda request: fonts.append(request.url) if "/static/fonts/" in request.url else None)
    page.goto(f"{server.url}/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(factories.PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{server.url}/")
    page.goto(f"{server.url}/clusters/{cluster_id}/setup")
    expect(page.locator("main")).to_contain_text(sample)
    assert any(url.split("?")[0].endswith(f"/fonts/{script.lower()}.css") for url in fonts), fonts
    # The app's face loads (from the machine's own copy when it has one), and the app's subset file itself is a
    # font that covers the script: loaded as a face of its own, it renders the sample.
    load = f"async () => (await document.fonts.load('16px \"ClusterScore {script}\"', {sample!r})).length"
    faces = page.evaluate(load)
    assert faces >= 1
    css = page.request.get(next(url for url in fonts if url.split("?")[0].endswith(".css"))).text()
    woff2 = css.split("url(")[1].split(")")[0]
    covers = page.evaluate(
        "async ([url, sample]) => { const face = new FontFace('subset', `url(${url})`); await face.load();"
        " document.fonts.add(face); return document.fonts.check('16px subset', sample); }",
        [f"{server.url}/static/fonts/{woff2}", sample],
    )
    assert covers
    if language == "ar":
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
    assert_accessible(page)
    _shot(page, f"{script.lower()}-setup-projector", full_page=False)
    context.close()
