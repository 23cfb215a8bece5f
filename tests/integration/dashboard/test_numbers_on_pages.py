"""Numbers people can trust on the facilitator's and agency's pages: read as typed, shown as the reader writes
them, percentages and yes/no facts as what they are."""

import re
from html.parser import HTMLParser

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.audit.models import AuditEvent
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant
from app.clusters.schemas import KpiSettingsUpdate
from app.dashboard import service as dashboard_service
from app.rounds import service as round_service
from app.rounds.models import KpiValue, Round
from app.rounds.schemas import RoundStatus
from tests import factories
from tests.integration.dashboard.test_facilitator_pages import csrf, fresh, staff_client

RECRUITED = "members-recruited"  # Thai template: a count the facilitator enters
PLAN = "communications-plan"  # Thai template: a yes/no fact the facilitator enters
# A point between digits that is not thousands grouping (Spanish and Portuguese write 1.200): a decimal point.
DECIMAL_POINT = re.compile(r".{0,20}\d\.(?!\d{3}(?:\D|$))\d.{0,20}")


class _Text(HTMLParser):
    """What a person reads on a page: the text, without scripts, styles or attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def readable(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(parser.parts)


@pytest.fixture
def world(session: Session) -> tuple[Cluster, Round, list[Participant]]:
    """A sharing cluster whose round has decimals everywhere: a KPI mean of 12.5, ratings averaging 2.5, and
    a note and an action to print."""
    programme = factories.programme(session)
    cluster = factories.cluster(session, in_programme=programme, shares_benchmarks=True)
    members = [factories.participant(session, cluster, organisation=f"Firm {i}") for i in range(4)]
    round_ = factories.open_round(session, cluster, label="2026 H1")
    csfs = [c.key for p in cluster_service.scorecard(session, cluster).perspectives for c in p.csfs]
    for member, rating, months in zip(members, (2, 3, 2, 3), (12, 13, 12, 13), strict=True):
        factories.submitted(
            session, round_, member, answers={"loan-repayment-period": months}, ratings=dict.fromkeys(csfs, rating)
        )
    cluster_service.update_kpi_settings(
        session,
        cluster,
        "loan-repayment-period",
        KpiSettingsUpdate(baseline=10.5, target=24.25),
        actor="t",
    )
    dashboard_service.add_action(
        session, round_, title="Call the bank", owner="Nok", due_date=None, csf_key=None, actor="t"
    )
    round_service.set_status(session, round_, RoundStatus.closed, actor="t")
    session.commit()
    return cluster, round_, members


def _admin(app: FastAPI, session: Session) -> TestClient:
    return factories.logged_in(app, session, factories.user(session, is_admin=True))


@pytest.mark.parametrize("language", ["es", "pt"])
def test_session_screen_print_view_and_benchmarks_write_numbers_as_the_reader_does(
    app: FastAPI, session: Session, world: tuple[Cluster, Round, list[Participant]], language: str
) -> None:
    """Spanish pages showed 3.46 and "faltan 16.54", dates as ISO ("Impreso el 2026-12-05"), a fixed "(100 %)"."""
    cluster, round_, _members = world
    http = _admin(app, session)
    http.cookies.set("clusterscore_lang", language)
    pages = {
        "session": f"/rounds/{round_.id}/session",
        "print": f"/rounds/{round_.id}/print",
        "benchmark profile": f"/benchmarks/clusters/{cluster.id}",
        "heat map": "/benchmarks",
    }
    for name, path in pages.items():
        page = http.get(path)
        assert page.status_code == 200, name
        text = readable(page.text)
        assert not DECIMAL_POINT.search(text), (name, DECIMAL_POINT.findall(text))
        assert not re.search(r"\d{4}-\d{2}-\d{2}", text), name
    session_text = readable(http.get(pages["session"]).text)
    assert "12,5" in session_text and "10,5" in session_text and "24,25" in session_text
    assert "2,5" in session_text  # the mean rating
    assert ("(100\xa0%)" if language == "es" else "(100%)") in session_text
    printed = readable(http.get(pages["print"]).text)
    assert re.search(r"(Impreso el|Impresso em) \d{1,2} (de )?\w+\.? (de )?\d{4}", printed)


def test_english_pages_still_read_points(
    app: FastAPI, session: Session, world: tuple[Cluster, Round, list[Participant]]
) -> None:
    cluster, round_, _members = world
    http = _admin(app, session)
    session_text = readable(http.get(f"/rounds/{round_.id}/session").text)
    assert "12.5" in session_text and "24.25" in session_text and "(100%)" in session_text
    assert "12,5" not in session_text
    assert re.search(r"\d\.\d", readable(http.get(f"/benchmarks/clusters/{cluster.id}").text))


def test_a_facilitators_figures_are_read_as_typed(
    app: FastAPI, session: Session, world: tuple[Cluster, Round, list[Participant]]
) -> None:
    """A facilitator entered 12,000 members recruited and 12 was stored."""
    cluster, round_, _members = world
    round_service.set_status(session, round_, RoundStatus.open, actor="t")
    session.commit()
    facilitator = staff_client(app, session, "facilitator", cluster)
    url = f"/rounds/{round_.id}/kpi-values/{RECRUITED}"
    assert facilitator.post(url, data={"value": "12,000", "note": "", **csrf(facilitator)}).status_code == 200
    fresh(session)
    assert session.exec(select(KpiValue.value).where(KpiValue.kpi_key == RECRUITED)).one() == 12000.0

    spanish = {"Accept-Language": "es"}
    facilitator.cookies.set("clusterscore_lang", "es")
    page = facilitator.post(url, data={"value": "1,500", "note": "", **csrf(facilitator)}, headers=spanish)
    assert page.status_code == 422 and "“1,500” puede ser 1,5 o 1500" in page.text
    assert facilitator.post(url, data={"value": "12.500", "note": "", **csrf(facilitator)}).status_code == 200
    fresh(session)
    assert session.exec(select(KpiValue.value).where(KpiValue.kpi_key == RECRUITED)).one() == 12500.0
    # The stored figure is shown in the field as the facilitator writes numbers, so saving again keeps it.
    assert 'value="12500"' in facilitator.get(f"/rounds/{round_.id}/manage").text


def test_a_yes_no_fact_is_entered_as_yes_or_no(
    app: FastAPI, client: TestClient, session: Session, world: tuple[Cluster, Round, list[Participant]]
) -> None:
    """ "Existence of an internal communications plan" offered a number box and accepted 7."""
    cluster, round_, _members = world
    round_service.set_status(session, round_, RoundStatus.open, actor="t")
    session.commit()
    facilitator = staff_client(app, session, "facilitator", cluster)
    page = facilitator.get(f"/rounds/{round_.id}/manage").text
    row = page[page.index(f'id="value-{PLAN}"') :].split("</tr>", 1)[0]
    assert 'name="value" value="yes"' in row and 'name="value" value="no"' in row
    assert 'inputmode="decimal"' not in row
    url = f"/rounds/{round_.id}/kpi-values/{PLAN}"
    refused = facilitator.post(url, data={"value": "7", "note": "", **csrf(facilitator)})
    assert refused.status_code == 422 and "Please answer yes or no." in refused.text
    assert facilitator.post(url, data={"value": "yes", "note": "Board minutes", **csrf(facilitator)}).status_code == 200
    fresh(session)
    assert session.exec(select(KpiValue.value).where(KpiValue.kpi_key == PLAN)).one() == 1.0
    token = factories.api_token(session, factories.user(session, grants=(("facilitator", cluster),)))
    session.commit()
    api = client.put(
        f"/api/v1/rounds/{round_.id}/kpi-values/{PLAN}", json={"value": 7}, headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 422
    # Achievement: 100 for yes (from no to yes), shown as yes in the session's KPI table.
    scores = client.get(f"/api/v1/rounds/{round_.id}/scores", headers={"Authorization": f"Bearer {token}"}).json()
    plan = next(k for k in scores["kpis"] if k["key"] == PLAN)
    assert (plan["value"], plan["baseline"], plan["target"], plan["achievement"]) == (1.0, 0.0, 1.0, 100.0)
    table = facilitator.get(f"/rounds/{round_.id}/session").text
    plan_row = table[table.index("Existence of an internal") :].split("</tr>", 1)[0]
    assert "<td>yes</td><td>no</td><td>yes</td>" in plan_row


def test_setup_page_states_percentages_and_refuses_goals_that_could_never_be_scored(
    app: FastAPI, session: Session
) -> None:
    cluster = factories.cluster(session, template_key="scottish-enterprise-cluster")
    facilitator = staff_client(app, session, "facilitator", cluster)
    page = facilitator.get(f"/clusters/{cluster.id}/setup").text
    row = page[page.index('id="kpi-firms-investing"') :].split("</tr>", 1)[0]
    assert '<span class="hint">(%)</span>' in row and '<span aria-hidden="true">%</span>' in row
    url = f"/clusters/{cluster.id}/setup/kpis/firms-investing"
    fraction = facilitator.post(
        url,
        data={"active": "on", "baseline": "0.1", "target": "0.6", **csrf(facilitator)},
        headers={"HX-Request": "true"},
    )
    assert fraction.status_code == 422
    assert "This indicator is a percentage (0 to 100), not a fraction: type 10 for 0.1." in fraction.text
    wrong = facilitator.post(
        f"/clusters/{cluster.id}/setup/kpis/capital-investment",
        data={"active": "on", "baseline": "10", "target": "2", **csrf(facilitator)},
        headers={"HX-Request": "true"},
    )
    assert wrong.status_code == 422
    assert "The target (2) is below the baseline (10), but higher is better for this indicator" in wrong.text
    fresh(session)
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "kpi_settings")).all() == []
    kpi = cluster_service.scorecard(session, cluster).kpi("capital-investment")
    assert kpi is not None and (kpi.baseline, kpi.target) == (None, None)
