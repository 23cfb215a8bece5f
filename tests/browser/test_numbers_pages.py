"""Numbers in Chromium, in Spanish: a member's typed numbers, the facilitator's yes/no fact and figures, the
session screen and the print view, on a phone (390 px) and a projector (1920x1080), offline from the internet
(only the app itself answers), every page passing axe."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlmodel import Session

from app.clusters import service as cluster_service
from tests import factories
from tests.browser.conftest import SCREENSHOTS, assert_accessible
from tests.support.live_server import LiveServer

# A point between digits that is not Spanish grouping (1.200): a decimal point, as Spanish never writes one.
DECIMAL_POINT = re.compile(r".{0,20}\d\.(?!\d{3}(?:\D|$))\d.{0,20}")
SIZES = {"phone": {"width": 390, "height": 844}, "projector": {"width": 1920, "height": 1080}}


@dataclass
class Cluster:
    cluster_id: int
    round_id: int
    member_link: str
    email: str


@pytest.fixture
def spanish_cluster(server: LiveServer) -> Cluster:
    with Session(server.engine) as session:
        cluster = factories.cluster(session, name="Clúster de alimentos de Bangkok")
        members = [
            factories.participant(session, cluster, organisation=f"Empresa {i}", language="es") for i in range(3)
        ]
        round_ = factories.open_round(session, cluster, label="2026 S1")
        csfs = [c.key for p in cluster_service.scorecard(session, cluster).perspectives for c in p.csfs]
        for member, rating, months in zip(members[1:], (2, 3), (12, 13), strict=True):
            factories.submitted(
                session, round_, member, answers={"loan-repayment-period": months}, ratings=dict.fromkeys(csfs, rating)
            )
        facilitator = factories.user(session, grants=(("facilitator", cluster),))
        facilitator.language = "es"
        session.add(facilitator)
        link = factories.member_link(session, members[0])
        session.commit()
        assert cluster.id and round_.id
        return Cluster(cluster.id, round_.id, f"{server.url}{link}", facilitator.email)


def _local_only(server: LiveServer) -> Callable[[Route], None]:
    """Nothing but the app answers: a venue without internet."""

    def handle(route: Route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            route.abort()

    return handle


@dataclass
class View:
    page: Page
    size: str

    def shot(self, name: str) -> None:
        folder = SCREENSHOTS / "numbers"
        folder.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=folder / f"{name}-{self.size}.png", full_page=True)


@pytest.fixture(params=list(SIZES))
def view(browser: Browser, server: LiveServer, request: pytest.FixtureRequest) -> Iterator[View]:
    context = browser.new_context(viewport=SIZES[request.param], locale="es-ES")  # type: ignore[arg-type]
    context.route("**/*", _local_only(server))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield View(page, request.param)
    context.close()
    assert errors == []


def test_a_member_types_numbers_as_spanish_writes_them(
    view: View, server: LiveServer, spanish_cluster: Cluster
) -> None:
    page = view.page
    page.goto(spanish_cluster.member_link)
    page.goto(f"{server.url}/rounds/{spanish_cluster.round_id}/answer/2")
    field = page.locator("#k-customer-satisfaction")
    field.fill("12,5")
    field.blur()
    expect(page.locator("#st-k-customer-satisfaction")).to_have_text("Guardado")
    page.goto(f"{server.url}/rounds/{spanish_cluster.round_id}/answer/3")
    count = page.locator("#k-core-skills-participants")
    count.fill("1,500")
    count.blur()
    expect(page.locator("#st-k-core-skills-participants")).to_contain_text("“1,500” puede ser 1,5 o 1500")
    assert_accessible(page)
    view.shot("member-ambiguous")
    count.fill("1.500")
    count.blur()
    expect(page.locator("#st-k-core-skills-participants")).to_have_text("Guardado")
    page.goto(f"{server.url}/rounds/{spanish_cluster.round_id}/review")
    expect(page.locator("main")).to_contain_text("12,5 %")


def test_the_facilitator_reads_and_enters_numbers_in_spanish(
    view: View, server: LiveServer, spanish_cluster: Cluster
) -> None:
    page = view.page
    page.goto(f"{server.url}/login")
    page.get_by_label("Correo electrónico").fill(spanish_cluster.email)
    page.get_by_label("Contraseña").fill(factories.PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()

    page.goto(f"{server.url}/rounds/{spanish_cluster.round_id}/manage")
    row = page.locator("#value-communications-plan")
    row.get_by_role("button", name="Sí").click()
    expect(page.locator("#value-communications-plan").get_by_role("button", name="Sí")).to_have_attribute(
        "aria-pressed", "true"
    )
    value = page.locator("#value-members-recruited").locator('input[name="value"]')
    value.fill("1.200")
    page.locator("#value-members-recruited").get_by_role("button", name="Guardar").click()
    expect(page.locator("#value-members-recruited").locator('input[name="value"]')).to_have_value("1200")
    assert_accessible(page)
    view.shot("round")

    page.goto(f"{server.url}/clusters/{spanish_cluster.cluster_id}/setup")
    row = page.locator("#kpi-loan-repayment-period")
    row.locator('input[name="baseline"]').fill("10,5")
    row.locator('input[name="target"]').fill("2")
    row.get_by_role("button", name="Guardar").click()
    expect(page.locator("#kpi-loan-repayment-period")).to_contain_text("más es mejor")
    row = page.locator("#kpi-loan-repayment-period")
    expect(row.locator('input[name="baseline"]')).to_have_value("10,5")  # what was typed stays
    assert_accessible(page)
    view.shot("setup-refused")
    row.locator('input[name="target"]').fill("24,25")
    row.get_by_role("button", name="Guardar").click()
    expect(page.locator("#kpi-loan-repayment-period").locator('input[name="target"]')).to_have_value("24,25")
    assert_accessible(page)
    view.shot("setup")

    for name in ("session", "print"):
        page.goto(f"{server.url}/rounds/{spanish_cluster.round_id}/{name}")
        text = page.locator("main").inner_text()
        assert not DECIMAL_POINT.search(text), DECIMAL_POINT.findall(text)
        assert "1.200" in text  # thousands grouped as Spanish writes them
        assert "12,5" in text and "24,25" in text and "10,5" in text
        assert_accessible(page)
        view.shot(name)
