"""The distribution chart at programme scale: a bar per cluster while each gets a pixel column, one shape beyond."""

from itertools import pairwise

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


@pytest.mark.parametrize(
    ("q1", "median", "q3"),
    [(46.0, 48.0, 52.0), (50.0, 50.0, 50.0), (0.0, 0.0, 0.0), (100.0, 100.0, 100.0), (10.0, 50.0, 90.0)],
)
def test_quartile_labels_never_write_over_each_other(q1: float, median: float, q3: float) -> None:
    """Close quartiles (the demo's 46, 48 and 52) had their three labels on top of each other; each label now sits
    above its line unless that is too close to the one above, and inside the chart."""
    chart = distribution_chart(
        _points(10), [("q1", q1), ("median", median), ("q3", q3)], score=True, marked=None, width=WIDTH
    )
    labels = sorted(label for _name, _value, _y, label in chart.quartiles)
    assert all(b - a >= 15 for a, b in pairwise(labels))
    assert labels[0] >= 15 and labels[-1] <= chart.height - 4
    lines = {name: (y, label) for name, _value, y, label in chart.quartiles}
    assert lines["q3"][1] <= lines["median"][1] <= lines["q1"][1]  # in the order of their lines
    if q3 - q1 >= 40:  # far apart: each label right above its own line
        assert all(label == y - 4 for y, label in lines.values())
