"""Charts people read: what the SVG draws is checked against figures computed here independently
(statistics.quantiles on the scores the ratings give), read back through the chart's own axis; withheld figures
are not drawn; the heat map sorts by any column, on the server, with clusters without a value last."""

import re
import statistics
import xml.etree.ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.clusters.models import Cluster, Programme
from tests import factories
from tests.integration.benchmarks.world import H1_2025, H2_2025, rate_round, refresh_rollups, score_of


def _bearer(session: Session, *grants: tuple[str, object]) -> dict[str, str]:
    user = factories.user(session, grants=grants)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {factories.api_token(session, user)}"}


def _cluster(session: Session, programme: Programme, name: str, *ratings: int | None, **kw: object) -> Cluster:
    """Two members rating every CSF ratings[0] in 2025-H1 and ratings[1] in 2025-H2 (None: no round then)."""
    cluster = factories.cluster(session, in_programme=programme, name=name, shares_benchmarks=True, **kw)
    members = [factories.participant(session, cluster) for _ in range(2)]
    for period, rating in zip((H1_2025, H2_2025), ratings, strict=False):
        if rating is not None:
            rate_round(session, cluster, members, [rating, rating], period=period)
    return cluster


def _svg(page: str, chart_id: str) -> ET.Element:
    found = re.search(rf'<svg[^>]*id="{chart_id}".*?</svg>', page, re.DOTALL)
    assert found, f"no chart {chart_id}"
    return ET.fromstring(found.group(0))


def _value_of_y(svg: ET.Element):  # type: ignore[no-untyped-def]
    """The chart's own axis, as a reader uses it: the tick lines say which height is which value."""
    lines = [t for t in svg.iter("line") if t.get("class") == "tick"]
    ticks = {float(t.get("data-value", "")): float(t.get("y1", "")) for t in lines}
    (v0, y0), (v1, y1) = min(ticks.items()), max(ticks.items())
    return lambda y: v0 + (float(y) - y0) / (y1 - y0) * (v1 - v0)


# Coordinates are drawn to a hundredth of a pixel: about a hundredth of a point on a 0-100 axis 214 px high.
DRAWN = 0.01


def _points(text: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in text.split())]


def _group(svg: ET.Element, name: str) -> ET.Element:
    return next(g for g in svg.iter("g") if g.get("class") == name)


PEERS = {"Peer A": (1, 2), "Peer B": (2, 2), "Peer C": (2, 5), "Peer D": (4, 3), "Peer E": (5, 5), "Peer F": (3, 4)}


def test_trend_line_median_and_band_are_the_peer_quartiles(client: TestClient, session: Session) -> None:
    programme = factories.programme(session)
    viewed = _cluster(session, programme, "Viewed", 3, 4)
    for name, ratings in PEERS.items():
        _cluster(session, programme, name, *ratings)
    agency = _bearer(session, ("agency", programme))
    refresh_rollups(session)
    session.commit()

    page = client.get(f"/benchmarks/clusters/{viewed.id}?trend=overall", headers=agency).text
    svg = _svg(page, "trend-chart")
    assert svg.get("role") == "img" and svg.find("title") is not None and svg.find("desc") is not None
    value = _value_of_y(svg)
    expected = []
    for period in (0, 1):
        scores = [score_of(r[period]) for r in PEERS.values()]
        expected.append(statistics.quantiles(scores, n=4, method="inclusive"))

    own = _points(_group(svg, "own").find("polyline").get("points", ""))  # type: ignore[union-attr]
    assert [value(y) for _, y in own] == pytest.approx([score_of(3), score_of(4)], abs=DRAWN)
    medians = [value(float(r.get("y", "")) + 1.5) for r in _group(svg, "median-dots")]
    assert medians == pytest.approx([q[1] for q in expected], abs=DRAWN)
    band = _points(_group(svg, "band").find("polygon").get("points", ""))  # type: ignore[union-attr]
    # Upper quartiles left to right, then lower quartiles right to left: a closed band.
    assert [value(y) for _, y in band] == pytest.approx(
        [expected[0][2], expected[1][2], expected[1][0], expected[0][0]], abs=DRAWN
    )
    # The table alternative carries the same figures, in the reader's number format.
    assert "2025-H2" in page and "Peer A" not in svg.findtext("desc", "")
    spanish = client.get(
        f"/benchmarks/clusters/{viewed.id}?trend=overall", headers={**agency, "Accept-Language": "es"}
    ).text
    ticks = [t.text for t in _group(_svg(spanish, "trend-chart"), "axis").iter("text")]
    assert ticks == ["0", "25", "50", "75", "100"]
    assert expected[0][1] == 37.5 and "37,5" in spanish  # the table writes it as Spanish does


def test_withheld_peer_figures_are_not_drawn(client: TestClient, session: Session) -> None:
    """In 2025-H2 only two peers share a closed round: fewer than three, so no median and no band that period;
    the cluster's own line still shows both periods."""
    programme = factories.programme(session)
    viewed = _cluster(session, programme, "Viewed", 3, 4)
    for name, ratings in {"P1": (1, 2), "P2": (2, 5), "P3": (4, None), "P4": (5, None)}.items():
        _cluster(session, programme, name, *ratings)
    facilitator = _bearer(session, ("facilitator", viewed))
    refresh_rollups(session)
    session.commit()

    trend = client.get(f"/api/v1/benchmarks/clusters/{viewed.id}/trend", headers=facilitator).json()
    assert [p["peer_median"] is None for p in trend["points"]] == [False, True]
    page = client.get(f"/benchmarks/clusters/{viewed.id}", headers=facilitator).text
    svg = _svg(page, "trend-chart")
    value = _value_of_y(svg)
    assert len(list(_group(svg, "own-dots"))) == 2
    medians = list(_group(svg, "median-dots"))
    assert [value(float(r.get("y", "")) + 1.5) for r in medians] == pytest.approx(
        [trend["points"][0]["peer_median"]], abs=DRAWN
    )
    assert list(_group(svg, "median")) == []  # one period: a mark, no line across the gap
    band = list(_group(svg, "band"))
    assert [b.tag for b in band] == ["rect"]  # 2025-H1's band only, as a bar
    q1, q3 = trend["points"][0]["q1"], trend["points"][0]["q3"]
    assert value(float(band[0].get("y", ""))) == pytest.approx(q3, abs=DRAWN)
    assert value(float(band[0].get("y", "")) + float(band[0].get("height", ""))) == pytest.approx(q1, abs=DRAWN)
    # The position chart draws only what the table shows: nothing of a peer's minimum or maximum.
    position = _svg(page, "position-chart")
    assert all(c.get("data-value") for c in position.iter("circle"))


def test_heat_map_sorts_by_any_column_without_values_last(client: TestClient, session: Session) -> None:
    programme = factories.programme(session)
    ratings = {"Alpha": 2, "Bravo": 5, "Charlie": 3, "Delta": 4}
    for name, rating in ratings.items():
        cluster = factories.cluster(session, in_programme=programme, name=name, shares_benchmarks=True)
        members = [factories.participant(session, cluster) for _ in range(2)]
        # Only Bravo and Charlie say whether they have a marketing plan: the others have no KPI value.
        answers = {"business-marketing-plans": name == "Bravo"} if name in ("Bravo", "Charlie") else None
        rate_round(session, cluster, members, [rating, rating], answers=answers)
    agency = _bearer(session, ("agency", programme))
    refresh_rollups(session)
    session.commit()

    def names(query: str) -> list[str]:
        page = client.get(f"/benchmarks?template=thai-food-cluster&{query}", headers=agency).text
        body = page[page.index("<tbody>") : page.index("</tbody>")]
        return re.findall(r'<th scope="row"><a href="/benchmarks/clusters/\d+">([^<]+)</a>', body)

    by_score = sorted(ratings, key=lambda n: -ratings[n])
    assert names("columns=perspective&sort=overall&order=desc") == by_score
    assert names("columns=perspective&sort=overall&order=asc") == by_score[::-1]
    assert names("columns=csf&sort=cluster&order=desc") == sorted(ratings, reverse=True)
    assert names("") == sorted(ratings)
    kpi = "kpi:business-marketing-plans"
    assert names(f"columns=kpi&sort={kpi}&order=desc")[:2] == ["Bravo", "Charlie"]
    assert names(f"columns=kpi&sort={kpi}&order=asc") == ["Charlie", "Bravo", "Alpha", "Delta"]
    # Columns follow the choice; the sorted column says so to assistive technology, and links sort the other way.
    page = client.get("/benchmarks?columns=perspective&sort=overall&order=desc", headers=agency).text
    assert 'aria-sort="descending"' in page and "order=asc" in page
    assert ">Financial<" in page and ">Financial<" not in client.get("/benchmarks?columns=kpi", headers=agency).text
    api = client.get(f"/api/v1/benchmarks/heatmap?columns=kpi&sort={kpi}&order=asc", headers=agency).json()
    assert [r["cluster_name"] for r in api["rows"]] == ["Charlie", "Bravo", "Alpha", "Delta"]
    assert {m["kind"] for m in api["measures"]} == {"kpi"}
    assert [r["values"][kpi] for r in api["rows"]][2:] == [None, None]


def test_distribution_marks_the_cluster_and_draws_the_quartiles(client: TestClient, session: Session) -> None:
    programme = factories.programme(session)
    clusters = {r: _cluster(session, programme, f"Rated {r}", r) for r in (1, 2, 3, 4, 5)}
    agency = _bearer(session, ("agency", programme))
    refresh_rollups(session)
    session.commit()

    marked = clusters[4]
    page = client.get(f"/benchmarks/distribution?measure=overall&cluster={marked.id}", headers=agency).text
    svg = _svg(page, "distribution-chart")
    value = _value_of_y(svg)
    bars = [b for b in svg.iter("rect") if "bar" in (b.get("class") or "").split()]
    heights = [value(float(b.get("y", ""))) for b in bars]
    assert heights == pytest.approx([score_of(r) for r in (5, 4, 3, 2, 1)], abs=DRAWN)
    assert [b.get("data-cluster") for b in bars if "marked" in (b.get("class") or "")] == [str(marked.id)]
    assert "Rated 4" in "".join(svg.itertext())
    quartiles = [q for q in svg.iter("line") if q.get("class") == "quartile"]
    lines = {q.get("data-name"): value(float(q.get("y1", ""))) for q in quartiles}
    expected = statistics.quantiles([score_of(r) for r in clusters], n=4, method="inclusive")
    assert [lines["q1"], lines["median"], lines["q3"]] == pytest.approx(expected, abs=DRAWN)


def test_distribution_table_opens_on_the_marked_clusters_page(client: TestClient, session: Session) -> None:
    """The table beside the chart comes a page at a time (thousands of clusters would be megabytes), opening on
    the page of the cluster marked; the chart still draws every cluster."""
    programme = factories.programme(session)
    clusters = {r: _cluster(session, programme, f"Rated {r}", r) for r in (1, 2, 3, 4, 5)}
    agency = _bearer(session, ("agency", programme))
    refresh_rollups(session)
    session.commit()

    def rows(page: str) -> list[str]:
        body = page[page.index("<tbody>") : page.index("</tbody>")]
        return re.findall(r'<th scope="row"><a href="/benchmarks/clusters/\d+">([^<]+)</a>', body)

    address = f"/benchmarks/distribution?measure=overall&cluster={clusters[2].id}&per_page=2"
    marked = client.get(address, headers=agency).text  # Rated 2 is the fourth largest: page 2 of 3
    assert rows(marked) == ["Rated 3", "Rated 2"] and "largest first, page 2 of 3" in marked
    assert 'class="marked"' in marked and 'rel="prev"' in marked and 'rel="next"' in marked
    assert len([b for b in _svg(marked, "distribution-chart").iter("rect") if "bar" in (b.get("class") or "")]) == 5
    first = client.get(address + "&page=1", headers=agency).text
    assert rows(first) == ["Rated 5", "Rated 4"] and 'rel="prev"' not in first and 'class="marked"' not in first
    whole = client.get("/benchmarks/distribution?measure=overall", headers=agency).text
    assert rows(whole) == [f"Rated {r}" for r in (5, 4, 3, 2, 1)] and 'class="pages"' not in whole
