"""The heat map a page at a time: a programme of thousands of clusters is read, and sent, one page of rows at a
time, while its summary row (medians, quartiles, median changes) and the shades stay those of every row."""

import csv
import io
import re
import statistics
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth.principal import Principal
from app.benchmarks import charts, service
from app.benchmarks.schemas import Heatmap
from app.clusters.models import Programme
from tests import factories
from tests.integration.benchmarks.world import (
    H1_2025,
    H2_2025,
    MEASURE,
    peer,
    rate_round,
    refresh_rollups,
    score_of,
)

# Ratings of 2025-H1 and 2025-H2 per cluster; D has no 2025-H1 round, so no change.
PLAN = {"A": (1, 1), "B": (2, 4), "C": (3, 2), "D": (None, 5), "E": (4, 5)}


def _programme(session: Session) -> Programme:
    programme = factories.programme(session)
    for name, (before, after) in PLAN.items():
        cluster = factories.cluster(session, in_programme=programme, name=name, shares_benchmarks=True)
        members = [factories.participant(session, cluster) for _ in range(2)]
        if before is not None:
            rate_round(session, cluster, members, [before, before], period=H1_2025)
        rate_round(session, cluster, members, [after, after], period=H2_2025)
    refresh_rollups(session)
    return programme


def _names(data: Heatmap) -> list[str]:
    return [r.cluster_name for r in data.rows]


def test_pages_together_are_the_sorted_table_and_share_its_summary(session: Session) -> None:
    _programme(session)
    agency = Principal(user=factories.user(session, is_admin=True))

    def heat(**kwargs: Any) -> Heatmap:
        return service.heatmap(session, agency, template_key="thai-food-cluster", period=None, filters={}, **kwargs)

    whole = heat(per_page=None)
    assert _names(whole) == list("ABCDE") and (whole.total, whole.page, whole.pages) == (5, 1, 1)
    latest = [score_of(after) for _before, after in PLAN.values()]
    assert whole.median["overall"] == pytest.approx(statistics.median(latest))
    assert whole.quartiles["overall"] == pytest.approx(statistics.quantiles(latest, n=4, method="inclusive"))
    changes = [score_of(after) - score_of(before) for before, after in PLAN.values() if before is not None]
    assert whole.median_change["overall"] == pytest.approx(statistics.median(changes))

    # Largest first over all pages (D and E tie at 5 and keep their order by name), two rows a page.
    pages = [heat(sort="overall", descending=True, per_page=2, page=p) for p in (1, 2, 3)]
    assert [_names(p) for p in pages] == [["D", "E"], ["B", "C"], ["A"]]
    assert {(p.total, p.pages) for p in pages} == {(5, 3)}
    for p in pages:
        assert (p.median, p.quartiles, p.median_change) == (whole.median, whole.quartiles, whole.median_change)
        # A cluster's shade is the same on its page as in the whole table.
        shades = charts.heat_shades(p)
        assert all(shades[k] == {c: charts.heat_shades(whole)[k][c] for c in shades[k]} for k in shades)
    # Past the last page: the last page; before the first: the first.
    assert _names(heat(per_page=2, page=9)) == ["E"] and heat(per_page=2, page=9).page == 3
    assert _names(heat(per_page=2, page=0)) == ["A", "B"]


def test_kpi_shades_follow_the_quartiles_of_every_row(session: Session) -> None:
    """Raw KPI values are shaded by their column's quartiles: over all clusters, not over the page's few."""
    programme = factories.programme(session)
    for name, value in zip("ABCDE", (10.0, 20.0, 30.0, 40.0, 50.0), strict=True):
        peer(session, programme, value, name=name)
    refresh_rollups(session)
    agency = Principal(user=factories.user(session, is_admin=True))
    last = service.heatmap(
        session, agency, template_key="thai-food-cluster", period=None, filters={}, columns="kpi", per_page=2, page=3
    )
    assert _names(last) == ["E"] and last.rows[0].values[MEASURE] == 50.0
    # E is in the top quarter of all five; alone on its page it would be its column's every quartile.
    assert last.quartiles[MEASURE] == pytest.approx((20.0, 30.0, 40.0))
    assert charts.heat_shades(last)[MEASURE] == {last.rows[0].cluster_id: 4}


def test_page_links_and_exports_of_every_row(client: TestClient, session: Session) -> None:
    programme = _programme(session)
    user = factories.user(session, grants=[("agency", programme)])
    agency = {"Authorization": f"Bearer {factories.api_token(session, user)}"}
    session.commit()

    def rows(page: str) -> list[str]:
        body = page[page.index("<tbody>") : page.index("</tbody>")]
        return re.findall(r'<th scope="row"><a href="/benchmarks/clusters/\d+">([^<]+)</a>', body)

    first = client.get("/benchmarks?per_page=2", headers=agency).text
    assert rows(first) == ["A", "B"] and "5 clusters, page 1 of 3" in first
    assert 'rel="next" href' not in first and re.search(r'href="\?per_page=2&amp;page=2" rel="next"', first)
    assert 'rel="prev"' not in first and "Clusters 1 to 2 of 5" in first and "Median of all 5" in first
    # Sorting from a later page starts again on the first page of the new order.
    second = client.get("/benchmarks?per_page=2&page=2", headers=agency).text
    assert rows(second) == ["C", "D"] and 'rel="prev"' in second and 'rel="next"' in second
    assert 'href="?per_page=2&amp;sort=overall&amp;order=desc"' in second
    fragment = client.get("/benchmarks?per_page=2&page=3", headers={**agency, "HX-Request": "true"}).text
    assert "<html" not in fragment and rows(fragment) == ["E"] and 'rel="next"' not in fragment

    api = client.get("/api/v1/benchmarks/heatmap?per_page=2&page=2&sort=overall&order=desc", headers=agency).json()
    assert [r["cluster_name"] for r in api["rows"]] == ["B", "C"] and (api["total"], api["pages"]) == (5, 3)
    # The exports are the whole table, whatever page the address names.
    text = client.get("/benchmarks/heatmap.csv?per_page=2&page=2", headers=agency).content.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert [r[0] for r in table[1:]] == [*"ABCDE", "median of 5 clusters"]
    assert 'href="/benchmarks/heatmap.json?per_page=2' in first
    whole = client.get("/benchmarks/heatmap.json?per_page=2&page=2", headers=agency).json()
    assert [r["cluster_name"] for r in whole["rows"]] == list("ABCDE") and whole["per_page"] is None

    refused = client.get("/api/v1/benchmarks/heatmap?per_page=0", headers=agency)
    assert refused.status_code == 422 and "per_page" in refused.text
