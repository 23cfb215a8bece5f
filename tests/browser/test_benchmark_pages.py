"""The benchmark pages say how current their figures are, and a page address that names nothing is the 404 page:
checked in Chromium on a phone and on a projector, with axe."""

from playwright.sync_api import expect
from sqlmodel import Session

from app.benchmarks import refresher
from tests import factories
from tests.browser.conftest import Screen
from tests.integration.benchmarks.world import H1_2025, H2_2025, rated_cluster
from tests.support.live_server import LiveServer

# Whether the year of the first period ("2025-H1") in `selector`'s text is drawn left of its half-year.
YEAR_LEFT_OF_HALF = """selector => {
  const walker = document.createTreeWalker(document.querySelector(selector), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const found = /(\\d{4})-(H\\d)/.exec(node.data);
    if (!found) continue;
    const box = (start, end) => {
      const range = document.createRange();
      range.setStart(node, start);
      range.setEnd(node, end);
      return range.getBoundingClientRect();
    };
    return box(found.index, found.index + 4).left < box(found.index + 5, found.index + 7).left;
  }
  return null;
}"""


def test_benchmark_pages_show_how_current_they_are(server: LiveServer, screen: Screen) -> None:
    page = screen.page
    with Session(server.engine) as session:
        programme = factories.programme(session)
        clusters = [rated_cluster(session, programme, rating, name=f"Cluster {rating}") for rating in (2, 3, 4)]
        agency = factories.user(session, grants=(("agency", programme),))
        session.commit()
        email, cluster_id = agency.email, clusters[0].id
    refresher.refresh_stale(server.engine)

    page.goto(f"{server.url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{server.url}/benchmarks?template=thai-food-cluster")
    expect(page.locator("p.freshness")).to_contain_text("Figures computed on")
    screen.check("heatmap")

    page.goto(f"{server.url}/benchmarks/clusters/{cluster_id}")
    expect(page.locator("p.freshness")).to_contain_text("Figures computed on")
    screen.check("profile")

    missing = page.goto(f"{server.url}/clusters/0/setup")
    assert missing is not None and missing.status == 404
    expect(page.get_by_text("No such page.")).to_be_visible()
    screen.check("not-found")


def test_chart_pages_read_on_a_phone_and_a_projector(server: LiveServer, screen: Screen) -> None:
    """The trend with its band, the position chart, the heat map sorted by a column and paged (htmx swaps the
    table) and the distribution with a cluster marked: axe-clean, nothing fetched from another site, nothing
    wider than the page."""
    page = screen.page
    with Session(server.engine) as session:
        programme = factories.programme(session)
        clusters = [
            rated_cluster(session, programme, rating, name=f"Cluster {rating}", periods=(H1_2025, H2_2025))
            for rating in (1, 2, 3, 4, 5)
        ]
        agency = factories.user(session, grants=(("agency", programme),))
        session.commit()
        email, cluster_id = agency.email, clusters[2].id
    refresher.refresh_stale(server.engine)

    page.goto(f"{server.url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.goto(f"{server.url}/benchmarks/clusters/{cluster_id}")
    expect(page.locator("#trend-chart .band .iqr")).to_have_count(1)
    expect(page.locator("#trend-chart .own-dots circle")).to_have_count(2)
    expect(page.locator("#position-chart .own")).not_to_have_count(0)
    screen.check("profile-charts")

    page.goto(f"{server.url}/benchmarks?columns=perspective")
    expect(page.locator(".heat-legend")).to_be_visible()
    page.get_by_role("link", name="Overall", exact=True).click()  # htmx swaps the results; the address follows
    expect(page.locator('th[aria-sort="descending"]')).to_have_count(1)
    expect(page.locator("table.heat tbody tr").first).to_contain_text("Cluster 5")
    assert "sort=overall" in page.url
    screen.check("heatmap-sorted")

    # Two rows a page: the next page comes through htmx, sorted as before, with the median of all five clusters.
    page.goto(f"{server.url}/benchmarks?columns=perspective&sort=overall&order=desc&per_page=2")
    page.get_by_role("link", name="Next page").click()
    expect(page.locator("table.heat tbody tr").first).to_contain_text("Cluster 3")
    expect(page.locator("table.heat tbody tr")).to_have_count(2)
    expect(page.locator("table.heat tfoot")).to_contain_text("Median of all 5")
    expect(page.get_by_role("link", name="Previous page")).to_be_visible()
    assert "page=2" in page.url
    screen.check("heatmap-page-2")

    page.goto(f"{server.url}/benchmarks/distribution?measure=overall&cluster={cluster_id}")
    expect(page.locator("#distribution-chart rect.marked")).to_have_count(1)
    screen.check("distribution-marked")
    # Two rows a page: the table opens on the marked cluster's page (Cluster 3 is the third largest: page 2).
    page.goto(f"{server.url}/benchmarks/distribution?measure=overall&cluster={cluster_id}&per_page=2")
    expect(page.locator("tr.marked")).to_contain_text("Cluster 3")
    page.get_by_role("link", name="Next page").click()
    expect(page.locator("table tbody tr")).to_have_count(1)
    expect(page.locator("#distribution-chart rect.bar")).to_have_count(5)
    screen.check("distribution-last-page")

    # Right to left (Arabic), the charts still run left to right and keep every label inside them: without
    # direction="ltr" the quartile labels ran past the chart's right edge and the axis numbers into the bars.
    page.get_by_role("button", name="العربية").click()
    page.goto(f"{server.url}/benchmarks/distribution?measure=overall&cluster={cluster_id}")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    chart = page.locator("#distribution-chart").bounding_box()
    assert chart is not None
    labels = page.locator("#distribution-chart .quartiles text, #distribution-chart .axis text").all()
    assert len(labels) >= 5
    for label in labels:
        box = label.bounding_box()
        assert box is not None
        assert chart["x"] - 1 <= box["x"] and box["x"] + box["width"] <= chart["x"] + chart["width"] + 1
    axis = page.locator("#distribution-chart .axis text").first.bounding_box()
    first_bar = page.locator("#distribution-chart rect.bar").first.bounding_box()
    assert axis is not None and first_bar is not None and axis["x"] + axis["width"] <= first_bar["x"]
    # The period in the heading reads "2025-H1" on the right-to-left page too: left alone, the year came after
    # the half ("H1-2025").
    year_then_half = page.evaluate(YEAR_LEFT_OF_HALF, "main h2")
    assert year_then_half is True
    screen.check("distribution-arabic")
