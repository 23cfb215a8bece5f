"""The distribution chart at programme scale: a bar per cluster while each gets a pixel column, one shape beyond."""

import pytest

from app.benchmarks.charts import distribution_chart
from app.benchmarks.schemas import DistributionPoint

WIDTH = 560
COLUMNS = WIDTH - 16 - 48  # the plot's width in pixels


def _points(n: int) -> list[DistributionPoint]:
    """n clusters, values 100 down to 0, largest first as the view gives them."""
    return [
        DistributionPoint(cluster_id=i + 1, cluster_name=f"C{i + 1}", value=100 * (n - 1 - i) / (n - 1), change=None)
        for i in range(n)
    ]


def test_a_bar_per_cluster_while_each_has_a_pixel_column() -> None:
    chart = distribution_chart(_points(COLUMNS), [], score=True, marked=3, width=WIDTH)
    assert len(chart.bars) == COLUMNS and chart.outline == []
    assert chart.marked is not None and chart.marked.cluster_id == 3


@pytest.mark.parametrize("n", [COLUMNS + 1, 9000])
def test_beyond_that_the_values_are_one_shape_and_the_marked_cluster_stays_visible(n: int) -> None:
    points = _points(n)
    chart = distribution_chart(points, [], score=True, marked=n // 2, width=WIDTH)
    assert [b.cluster_id for b in chart.bars] == [n // 2]  # only the marked cluster's bar
    assert chart.marked is not None and chart.marked.width >= 2
    # A point per pixel column, from the largest value (top) to the smallest (the axis), never rising.
    assert len(chart.outline) == COLUMNS + 1
    ys = [y for _x, y in chart.outline]
    assert ys == sorted(ys)
    assert ys[0] == pytest.approx(chart.axis.y(100.0), abs=0.01) and ys[-1] == pytest.approx(
        chart.axis.y(0.0), abs=0.01
    )
    assert [x for x, _y in chart.outline] == [48.0 + c for c in range(COLUMNS + 1)]
