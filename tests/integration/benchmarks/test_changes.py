"""Change between two periods: the agency's ranking and a cluster's change against its peers' changes, checked
against an independent computation (statistics.quantiles) and at the disclosure boundary (min_group - 1 against
min_group peers with a value in both periods; a cluster that does not share never counts)."""

import csv
import re
import statistics

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.clusters.models import Cluster, Programme
from app.rounds import service as round_service
from app.rounds.models import Round
from app.rounds.schemas import RoundStatus
from tests import factories
from tests.integration.benchmarks.world import H1_2025, H2_2025, rate_round, refresh_rollups, score_of

CHANGE_PAIRS = {"Up a lot": (1, 4), "Up": (2, 3), "Flat": (3, 3), "Down": (4, 2), "Also up": (2, 3)}


def _bearer(session: Session, *grants: tuple[str, object]) -> dict[str, str]:
    user = factories.user(session, grants=grants)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {factories.api_token(session, user)}"}


def moved(session: Session, programme: Programme, name: str, before: int, after: int, **kw: object) -> Cluster:
    """A cluster whose two members rate every CSF `before` in 2025-H1 and `after` in 2025-H2 (both closed)."""
    cluster = factories.cluster(session, in_programme=programme, name=name, **{"shares_benchmarks": True, **kw})
    members = [factories.participant(session, cluster) for _ in range(2)]
    rate_round(session, cluster, members, [before, before], period=H1_2025)
    rate_round(session, cluster, members, [after, after], period=H2_2025)
    return cluster


def test_agency_ranking_against_an_independent_computation(client: TestClient, session: Session) -> None:
    programme = factories.programme(session)
    for name, (before, after) in CHANGE_PAIRS.items():
        moved(session, programme, name, before, after)
    only_later = factories.cluster(session, in_programme=programme, name="Only later", shares_benchmarks=True)
    rate_round(session, only_later, [factories.participant(session, only_later)], [5], period=H2_2025)
    moved(session, programme, "Not sharing", 1, 5, shares_benchmarks=False)
    agency = _bearer(session, ("agency", programme))
    refresh_rollups(session)
    session.commit()

    got = client.get("/api/v1/benchmarks/changes?measure=overall", headers=agency).json()
    assert (got["since"], got["period"]) == ("2025-H1", "2025-H2")
    expected = {name: score_of(after) - score_of(before) for name, (before, after) in CHANGE_PAIRS.items()}
    assert [(r["cluster_name"], r["change"]) for r in got["rows"]] == sorted(
        expected.items(), key=lambda item: (-item[1], item[0])
    )
    assert [r["rank"] for r in got["rows"]] == [1, 2, 2, 4, 5]  # "Also up" and "Up" moved equally
    assert got["rows"][0]["before"] == score_of(1) and got["rows"][0]["after"] == score_of(4)
    q1, median, q3 = statistics.quantiles(expected.values(), n=4, method="inclusive")
    assert got["stats"]["n"] == 5
    assert got["stats"]["median"] == pytest.approx(median) and median == 25.0
    assert (got["stats"]["q1"], got["stats"]["q3"]) == (pytest.approx(q1), pytest.approx(q3))
    # Filters narrow the peers; a CSF is a measure like any other.
    csf = client.get("/api/v1/benchmarks/changes?measure=csf:cost-control&since=2025-H1", headers=agency).json()
    assert csf["measure"]["key"] == "csf:cost-control" and len(csf["rows"]) == 5

    page = client.get("/benchmarks/changes?measure=overall", headers=agency)
    assert page.status_code == 200 and "Up a lot" in page.text and "Not sharing" not in page.text
    # In Egypt every figure of the page is in Arabic-Indic digits, the ranks and the count of clusters too.
    egypt = client.get("/benchmarks/changes?measure=overall", headers={**agency, "Accept-Language": "ar-EG"}).text
    body = egypt[egypt.index("<tbody>") : egypt.index("</tbody>")]
    assert re.findall(r"<tr><td>([^<]*)</td>", body) == ["\u0661", "\u0662", "\u0662", "\u0664", "\u0665"]
    assert ": \u0665 \u00b7" in egypt  # "Clusters: 5 ·"


def _overall_change(client: TestClient, cluster: Cluster, headers: dict[str, str]) -> dict[str, object]:
    profile = client.get(f"/api/v1/benchmarks/clusters/{cluster.id}?since=2025-H1", headers=headers).json()
    assert profile["since"] == "2025-H1" and profile["period"] == "2025-H2"
    row = next(m for m in profile["measures"] if m["measure"]["key"] == "overall")
    return row["change"]  # type: ignore[no-any-return]


def test_a_change_is_withheld_like_a_level_at_the_group_boundary(client: TestClient, session: Session) -> None:
    """Two peers with a change (min_group - 1): withheld. A third: shown, with the median of three withheld (it
    is one peer's own change). A peer that does not share, and one with no earlier round, never count."""
    programme = factories.programme(session)
    viewed = moved(session, programme, "Viewed", 2, 3)
    moved(session, programme, "A", 1, 2)  # +25
    moved(session, programme, "B", 2, 4)  # +50
    moved(session, programme, "Private", 1, 5, shares_benchmarks=False)
    later = factories.cluster(session, in_programme=programme, name="Later", shares_benchmarks=True)
    rate_round(session, later, [factories.participant(session, later)], [5], period=H2_2025)
    facilitator = _bearer(session, ("facilitator", viewed))
    refresh_rollups(session)
    session.commit()

    change = _overall_change(client, viewed, facilitator)
    assert change["own"] == pytest.approx(25.0)
    assert change["peers"] is None and "Fewer than 3 peers" in str(change["withheld"])

    moved(session, programme, "C", 3, 3)  # 0
    refresh_rollups(session)
    session.commit()
    change = _overall_change(client, viewed, facilitator)
    peers = change["peers"]
    assert isinstance(peers, dict)
    q1, median, q3 = statistics.quantiles([25.0, 50.0, 0.0], n=4, method="inclusive")
    assert peers["n"] == 3
    assert (peers["q1"], peers["median"], peers["q3"]) == (pytest.approx(q1), None, pytest.approx(q3))
    assert median == 25.0  # A's own change: withheld
    assert peers["band"] == "q1-q3"  # own +25 lies between 12.5 and 37.5
    shown = client.get(f"/api/v1/benchmarks/clusters/{viewed.id}?since=2025-H1", headers=facilitator).json()
    assert not {"A", "B", "C", "Private", "Later"} & {str(v) for v in _leaves(shown)}


def _leaves(tree: object) -> list[object]:
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in _leaves(v)]
    if isinstance(tree, list):
        return [leaf for v in tree for leaf in _leaves(v)]
    return [tree]


def test_a_revised_earlier_round_changes_the_change_group(client: TestClient, session: Session) -> None:
    """The change rests on both entries: reopening and closing a peer's earlier round (a new revision) makes the
    change group differ by one from what was shown, so it is withheld from that viewer, as a level would be."""
    programme = factories.programme(session)
    viewed = moved(session, programme, "Viewed", 2, 3)
    peers = [moved(session, programme, f"P{i}", 1 + i % 3, 3) for i in range(4)]
    facilitator = _bearer(session, ("facilitator", viewed))
    refresh_rollups(session)
    session.commit()
    assert _overall_change(client, viewed, facilitator)["peers"] is not None

    earlier = session.exec(select(Round).where(Round.cluster_id == peers[0].id, Round.label == H1_2025[0])).one()
    round_service.set_status(session, earlier, RoundStatus.open, actor="test")
    round_service.set_status(session, earlier, RoundStatus.closed, actor="test")
    refresh_rollups(session)
    session.commit()
    change = _overall_change(client, viewed, facilitator)
    assert change["peers"] is None and "changed by too few clusters" in str(change["withheld"])


def test_a_withheld_value_is_absent_from_every_export_format(client: TestClient, session: Session) -> None:
    """Two peers with a KPI change (fewer than min_group): their levels and changes, and every statistic of them,
    appear in no export of the profile or the trend (CSV, XLSX, JSON), while the viewer's own figures do."""
    import io

    from openpyxl import load_workbook

    from app.rounds.schemas import KpiValueSet

    kpi = "sector-financial-products"
    programme = factories.programme(session)

    def with_kpi(name: str, before: float, after: float) -> Cluster:
        cluster = factories.cluster(session, in_programme=programme, name=name, shares_benchmarks=True)
        members = [factories.participant(session, cluster) for _ in range(2)]
        for period, value in ((H1_2025, before), (H2_2025, after)):
            round_ = rate_round(session, cluster, members, [3, 3], period=period, close=False)
            round_service.set_kpi_value(session, round_, kpi, KpiValueSet(value=value), actor="test")
            round_service.set_status(session, round_, RoundStatus.closed, actor="test")
        return cluster

    viewed = with_kpi("Viewed", 100.0, 111.0)
    with_kpi("Peer one", 1234.0, 1771.0)  # +537
    with_kpi("Peer two", 2345.0, 3264.0)  # +919
    facilitator = _bearer(session, ("facilitator", viewed))
    refresh_rollups(session)
    session.commit()
    secrets = {1234.0, 1771.0, 537.0, 2345.0, 3264.0, 919.0}
    # What two values would give away through a statistic: their quartiles and means.
    for a, b in ((1234.0, 2345.0), (1771.0, 3264.0), (537.0, 919.0)):
        secrets |= {a + (b - a) * f for f in (0.25, 0.5, 0.75)}

    query = f"?since=2025-H1&trend=kpi:{kpi}"
    seen: dict[str, set[float]] = {}
    for path in ("profile", "trend"):
        base = f"/benchmarks/clusters/{viewed.id}/{path}"
        text = client.get(f"{base}.csv{query}", headers=facilitator).content.decode("utf-8-sig")
        seen[f"{path}.csv"] = {float(c) for row in csv.reader(io.StringIO(text)) for c in row if _number(c)}
        book = load_workbook(io.BytesIO(client.get(f"{base}.xlsx{query}", headers=facilitator).content))
        cells = [c for row in book.active.iter_rows(values_only=True) for c in row]
        seen[f"{path}.xlsx"] = {float(c) for c in cells if isinstance(c, int | float)}
        body = client.get(f"{base}.json{query}", headers=facilitator).json()
        seen[f"{path}.json"] = _numbers(body)
    seen["api"] = _numbers(client.get(f"/api/v1/benchmarks/clusters/{viewed.id}{query}", headers=facilitator).json())
    for name, numbers in seen.items():
        assert not numbers & secrets, f"{name} shows {numbers & secrets}"
    # The viewer's own level and change are there, so the exports did carry the change and trend columns.
    assert {111.0, 11.0} <= seen["profile.csv"] and {111.0, 11.0} <= seen["profile.xlsx"]
    assert {100.0, 111.0} <= seen["trend.csv"] and {100.0, 111.0} <= seen["trend.json"]
    # The control: agency staff of the programme see the same export by name, secrets included.
    agency = _bearer(session, ("agency", programme))
    session.commit()
    named = client.get(f"/benchmarks/clusters/{viewed.id}/profile.json{query}", headers=agency).json()
    assert {1234.0 + (2345.0 - 1234.0) / 2, 537.0 + (919.0 - 537.0) / 2} <= _numbers(named)


def _numbers(tree: object) -> set[float]:
    return {float(v) for v in _leaves(tree) if isinstance(v, int | float) and not isinstance(v, bool)}


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_the_latest_round_of_a_period_counts(session: Session) -> None:
    """The database picks each cluster's round per period (the half-year in which it ends; without dates, when it
    was created): the one that ends last, then the one created last; drafts never."""
    from datetime import date

    from app.benchmarks import service
    from app.rounds.schemas import RoundCreate

    cluster = factories.cluster(session)

    def made(label: str, start: date | None, end: date | None, status: RoundStatus = RoundStatus.closed) -> Round:
        round_ = round_service.create_round(
            session, cluster, RoundCreate(label=label, period_start=start, period_end=end)
        )
        if status != RoundStatus.draft:
            round_service.set_status(session, round_, RoundStatus.open, actor="test")
        if status == RoundStatus.closed:
            round_service.set_status(session, round_, RoundStatus.closed, actor="test")
        return round_

    made("Q1", date(2025, 1, 1), date(2025, 3, 31))
    q2 = made("Q2", date(2025, 4, 1), date(2025, 6, 30))  # ends later: counts
    made("H2 first", date(2025, 7, 1), date(2025, 12, 31))
    h2 = made("H2 again", date(2025, 7, 1), date(2025, 12, 31), RoundStatus.open)  # same end, created later
    made("Draft", date(2026, 1, 1), date(2026, 6, 30), RoundStatus.draft)
    undated = made("Undated", None, None)  # counts when it was created (now)
    session.flush()
    got = service._rounds_by_period(session, [cluster.id or 0], closed_only=False)[cluster.id or 0]
    now = undated.created_at.date()
    assert {p: r.round_id for p, r in got.items()} == {
        "2025-H1": q2.id,
        "2025-H2": h2.id,
        f"{now.year}-H{1 if now.month <= 6 else 2}": undated.id,
    }
    closed = service._rounds_by_period(session, [cluster.id or 0], closed_only=True)
    assert closed[cluster.id or 0]["2025-H2"].label == "H2 first"
    # The agency views' statement picks the same rounds: a period's, with the one changes are measured from.
    cells = service._cells(session, [cluster.id or 0], "2025-H2", "2025-H1", ["overall"])
    assert cells[cluster.id or 0].round.round_id == h2.id
    assert service._all_periods(session, [cluster.id or 0], closed_only=False)[-2:] == ["2025-H2", "2025-H1"]
