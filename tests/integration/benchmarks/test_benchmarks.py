"""Benchmarks end to end: roll-ups equal the scoring engine's core scores, who sees what, exports, pages."""

import csv
import html
import io
import re

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, select

from app.audit import service as audit_service
from app.auth.principal import Principal
from app.benchmarks import service
from app.benchmarks.models import BenchmarkValue
from app.clusters import service as cluster_service
from app.clusters.schemas import CustomKpiCreate, KpiSettingsUpdate
from app.rounds import service as round_service
from app.rounds.schemas import KpiValueSet
from app.scoring import service as scoring_service
from tests import factories
from tests.integration.benchmarks.world import H1_2025, H2_2025, rate_round, rated_cluster, refresh_rollups, score_of


def _bearer(session: Session, *grants: tuple[str, object], admin: bool = False) -> dict[str, str]:
    user = factories.user(session, is_admin=admin, grants=grants)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {factories.api_token(session, user)}"}


def test_roll_up_is_the_scoring_engines_core_score(session: Session) -> None:
    """Cluster-defined KPIs never enter; per_member counts are divided by the member firms asked."""
    programme = factories.programme(session)
    cluster = factories.cluster(session, in_programme=programme, shares_benchmarks=True)
    firms = [factories.participant(session, cluster) for _ in range(2)]
    institute = factories.participant(session, cluster, organisation_type="research")
    cluster_service.add_custom_kpi(
        session,
        cluster,
        CustomKpiCreate(key="own-kpi", csf_key="cost-control", title="Joint purchases", baseline=0, target=10),
        actor="test",
    )
    round_ = rate_round(
        session, cluster, [*firms, institute], [2, 4, 5], answers={"business-marketing-plans": True}, close=False
    )
    round_service.set_kpi_value(session, round_, "own-kpi", KpiValueSet(value=10), actor="test")

    service.refresh(session, [cluster.id or 0])
    stored = {
        row.measure: row.value
        for row in session.exec(select(BenchmarkValue).where(BenchmarkValue.round_id == round_.id))
    }
    core = scoring_service.round_scores(session, round_, core_only=True)
    full = scoring_service.round_scores(session, round_)
    assert stored["overall"] == pytest.approx(core.overall.value)
    assert full.overall.value != pytest.approx(core.overall.value)  # the own KPI moved the full score
    for csf in core.csfs:
        if csf.score.value is not None:
            assert stored[f"csf:{csf.key}"] == pytest.approx(csf.score.value)
    assert "kpi:own-kpi" not in stored
    # The question is for firms: the institute is not asked. Two firms of two said yes: 2 / 2, not 3 / 2.
    assert stored["kpi:business-marketing-plans"] == pytest.approx(1.0)


def test_roll_up_follows_new_answers_and_settings(session: Session) -> None:
    programme = factories.programme(session)
    cluster = factories.cluster(session, in_programme=programme, shares_benchmarks=True)
    members = [factories.participant(session, cluster) for _ in range(2)]
    rate_round(session, cluster, members, [1, 1], period=H1_2025)
    agency = Principal(user=factories.user(session, is_admin=True))
    refresh_rollups(session)
    first = service.heatmap(session, agency, template_key="thai-food-cluster", period="2025-H1", filters={})
    assert first.rows[0].values["overall"] == pytest.approx(0.0)
    # A later round in another period appears; the earlier period keeps its value.
    rate_round(session, cluster, members, [5, 5], period=H2_2025)
    refresh_rollups(session)
    later = service.heatmap(session, agency, template_key="thai-food-cluster", period=None, filters={})
    assert later.period == "2025-H2" and later.periods == ["2025-H2", "2025-H1"]
    assert later.rows[0].values["overall"] == pytest.approx(100.0)
    # A changed KPI setting (audited) refreshes the roll-up as well.
    cluster_service.update_kpi_settings(
        session, cluster, "business-marketing-plans", KpiSettingsUpdate(active=False), actor="test"
    )
    assert service.refresh(session, [cluster.id or 0]) == 1
    assert service.refresh(session, [cluster.id or 0]) == 0


def test_the_default_period_is_the_newest_with_a_value(session: Session) -> None:
    """A round just opened for 2025-H2, with no answer yet, does not make the heat map open on an empty period."""
    programme = factories.programme(session)
    cluster = factories.cluster(session, in_programme=programme, shares_benchmarks=True)
    members = [factories.participant(session, cluster) for _ in range(2)]
    rate_round(session, cluster, members, [3, 3], period=H1_2025)
    rate_round(session, cluster, [], [], period=H2_2025, close=False)  # opened, nobody answered yet
    agency = Principal(user=factories.user(session, is_admin=True))
    refresh_rollups(session)
    shown = service.heatmap(session, agency, template_key="thai-food-cluster", period=None, filters={})
    assert shown.periods == ["2025-H2", "2025-H1"] and shown.period == "2025-H1"
    assert shown.rows[0].values["overall"] == pytest.approx(score_of(3))
    asked = service.heatmap(session, agency, template_key="thai-food-cluster", period="2025-H2", filters={})
    assert asked.period == "2025-H2" and all(v is None for row in asked.rows for v in row.values.values())


def test_heat_map_names_only_sharing_clusters_of_the_agencys_programmes(client: TestClient, session: Session) -> None:
    mine, theirs = factories.programme(session), factories.programme(session)
    low = rated_cluster(session, mine, 2, name="Low cluster", region="North")
    high = rated_cluster(session, mine, 4, name="High cluster", region="South")
    rated_cluster(session, mine, 5, name="Private cluster", shares=False)
    rated_cluster(session, theirs, 3, name="Other programme cluster")
    agency = _bearer(session, ("agency", mine))
    admin = _bearer(session, admin=True)
    refresh_rollups(session)
    session.commit()

    body = client.get("/api/v1/benchmarks/heatmap?template=thai-food-cluster", headers=agency).json()
    assert [r["cluster_name"] for r in body["rows"]] == ["High cluster", "Low cluster"]
    assert body["median"]["overall"] == pytest.approx((score_of(2) + score_of(4)) / 2)
    assert body["rows"][0]["values"]["csf:cost-control"] == pytest.approx(score_of(4))
    filtered = client.get("/api/v1/benchmarks/heatmap?template=thai-food-cluster&region=North", headers=agency).json()
    assert [r["cluster_id"] for r in filtered["rows"]] == [low.id]
    everything = client.get("/api/v1/benchmarks/heatmap?template=thai-food-cluster", headers=admin).json()
    assert {r["cluster_name"] for r in everything["rows"]} == {"High cluster", "Low cluster", "Other programme cluster"}

    page = client.get("/benchmarks?template=thai-food-cluster", headers=agency)
    assert page.status_code == 200 and "<html" in page.text and "High cluster" in page.text
    # The filters offer the template by title and the programme by name (their values stay what the API takes).
    assert f'<option value="{mine.id}" >{mine.name}</option>' in page.text
    assert '<option value="thai-food-cluster" selected>Thai Food Cluster Initiative</option>' in page.text
    assert '<form class="bench-filters" method="get" action="/benchmarks"' in page.text  # works without JS
    fragment = client.get("/benchmarks?template=thai-food-cluster", headers={**agency, "HX-Request": "true"})
    assert "<html" not in fragment.text and 'id="results"' in fragment.text
    assert "HX-Request" in fragment.headers["Vary"]

    sheet = load_workbook(
        io.BytesIO(client.get("/benchmarks/heatmap.xlsx?template=thai-food-cluster", headers=agency).content)
    ).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("cluster", "round", "Overall")
    assert [r[0] for r in rows[1:3]] == ["High cluster", "Low cluster"] and rows[3][0] == "median of 2 clusters"
    # In Thai: the column names stay (scripts read them), the measures and the median row are translated.
    thai = {**agency, "Accept-Language": "th"}
    thai_xlsx = client.get("/benchmarks/heatmap.xlsx?template=thai-food-cluster", headers=thai).content
    thai_rows = list(load_workbook(io.BytesIO(thai_xlsx)).active.iter_rows(values_only=True))
    assert thai_rows[0][:2] == ("cluster", "round") and "การเข้าถึงสินเชื่อได้ง่าย" in thai_rows[0]
    assert thai_rows[3][0] == "ค่ามัธยฐานของ 2 คลัสเตอร์"
    assert "การเข้าถึงสินเชื่อได้ง่าย" in client.get("/benchmarks?template=thai-food-cluster", headers=thai).text
    text = client.get("/benchmarks/heatmap.csv?template=thai-food-cluster", headers=agency).content.decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text)))[1][0] == "High cluster"
    # The distribution page offers its figures in the three formats of every benchmark view.
    shown = client.get("/benchmarks/distribution?template=thai-food-cluster&measure=overall", headers=agency).text
    downloads = dict(re.findall(r'<a href="(/benchmarks/distribution\.[^"]+)">(CSV|XLSX|JSON)</a>', shown))
    assert sorted(downloads.values()) == ["CSV", "JSON", "XLSX"]
    got = {fmt: client.get(html.unescape(href), headers=agency) for href, fmt in downloads.items()}
    assert [r[0] for r in csv.reader(io.StringIO(got["CSV"].content.decode("utf-8-sig")))][1:3] == [
        "High cluster",
        "Low cluster",
    ]
    assert [r[0] for r in load_workbook(io.BytesIO(got["XLSX"].content)).active.iter_rows(values_only=True)][1:3] == [
        "High cluster",
        "Low cluster",
    ]
    assert [p["cluster_name"] for p in got["JSON"].json()["points"]] == ["High cluster", "Low cluster"]
    dist = client.get(
        "/api/v1/benchmarks/distribution?template=thai-food-cluster&measure=csf:cost-control", headers=agency
    )
    assert [p["cluster_name"] for p in dist.json()["points"]] == ["High cluster", "Low cluster"]
    assert high.id


def test_profile_named_for_agency_aggregate_for_facilitator(client: TestClient, session: Session) -> None:
    programme = factories.programme(session)
    viewed = rated_cluster(session, programme, 3, name="Viewed")
    peers = [rated_cluster(session, programme, r, name=f"Peer {r}") for r in (1, 2, 4, 5)]
    # An open round of a peer never reaches aggregate viewers; agency staff see it.
    rated_cluster(session, programme, 5, name="Still open", close=False)
    agency = _bearer(session, ("agency", programme))
    facilitator = _bearer(session, ("facilitator", viewed))
    refresh_rollups(session)
    session.commit()

    named = client.get(f"/api/v1/benchmarks/clusters/{viewed.id}", headers=agency).json()
    assert named["mode"] == "named"
    overall = next(m for m in named["measures"] if m["measure"]["key"] == "overall")
    assert overall["peers"]["n"] == 5

    aggregate = client.get(f"/api/v1/benchmarks/clusters/{viewed.id}", headers=facilitator).json()
    assert aggregate["mode"] == "aggregate"
    overall = next(m for m in aggregate["measures"] if m["measure"]["key"] == "overall")
    assert overall["own"] == pytest.approx(50.0)
    assert overall["peers"] == {
        "n": 4,
        "q1": pytest.approx(score_of(1.75)),
        "median": pytest.approx(50.0),
        "q3": pytest.approx(score_of(4.25)),
        "band": "median-q3",  # 50 is the median, which lies between two peers (25 and 75)
    }
    assert aggregate["trend"] == [
        {"period": "2025-H1", "own": 50.0, "peer_median": 50.0, "peers": 4, "q1": 18.75, "q3": 81.25, "withheld": None}
    ]
    for peer in peers:
        assert peer.name not in str(aggregate)

    page = client.get(f"/benchmarks/clusters/{viewed.id}", headers=facilitator)
    assert page.status_code == 200 and "radar.svg" in page.text and "Peer 1" not in page.text
    svg = client.get(f"/benchmarks/clusters/{viewed.id}/radar.svg", headers=facilitator)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<script" not in svg.content and b"Peer median" in svg.content
    # The radar speaks the reader's language, as the page and the PDF report it is drawn into.
    spanish = client.get(
        f"/benchmarks/clusters/{viewed.id}/radar.svg", headers={**facilitator, "Accept-Language": "es"}
    ).text
    assert "Este clúster" in spanish and "Mediana de los pares" in spanish and "Peer median" not in spanish
    # The name and the period are set in as isolates (U+2068 ... U+2069), whole in their own direction.
    assert "\u2068Viewed\u2069: puntuaciones de los factores de éxito, \u20682025-H1\u2069" in spanish
    arabic = client.get(
        f"/benchmarks/clusters/{viewed.id}/radar.svg", headers={**facilitator, "Accept-Language": "ar"}
    ).text
    # A line of SVG text has no page to say right to left: the Arabic title is a right-to-left isolate.
    title = re.search(r'font-size="16"[^>]*>([^<]*)</text>', arabic)
    assert title is not None and title[1].startswith("\u2067\u2068Viewed\u2069")
    assert title[1].endswith("\u20682025-H1\u2069\u2069") and "درجات" in title[1]
    sheet = load_workbook(
        io.BytesIO(client.get(f"/benchmarks/clusters/{viewed.id}/profile.xlsx", headers=facilitator).content)
    ).active
    assert next(sheet.iter_rows(values_only=True))[0] == "measure"


def test_sharing_is_the_facilitators_choice_and_audited(client: TestClient, session: Session) -> None:
    cluster = factories.cluster(session)
    facilitator = _bearer(session, ("facilitator", cluster))
    session.commit()
    response = client.post(
        f"/benchmarks/clusters/{cluster.id}/sharing",
        data={"shares": "true"},
        headers=facilitator,
        follow_redirects=False,
    )
    assert response.status_code == 303
    session.expire_all()
    assert cluster_service.get_cluster(session, cluster.id or 0).shares_benchmarks is True
    events = audit_service.history(session, entity="cluster", entity_id=cluster.id or 0)
    assert [(e.action, e.after) for e in events] == [("benchmark_consent", {"shares_benchmarks": True})]


def test_exports_never_turn_a_name_into_a_formula(client: TestClient, session: Session) -> None:
    programme = factories.programme(session)
    rated_cluster(session, programme, 3, name='=HYPERLINK("http://x")')
    agency = _bearer(session, ("agency", programme))
    session.commit()
    sheet = load_workbook(
        io.BytesIO(client.get("/benchmarks/heatmap.xlsx?template=thai-food-cluster", headers=agency).content)
    ).active
    assert list(sheet.iter_rows(values_only=True))[1][0] == '\'=HYPERLINK("http://x")'
    text = client.get("/benchmarks/heatmap.csv?template=thai-food-cluster", headers=agency).content.decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text)))[1][0].startswith("'=")
