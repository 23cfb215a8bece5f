"""SVG charts. Every chart has a table next to it on the page, which is its text alternative.

The radar is drawn by app.dashboard.charts, as on the session screen; the others inline from the geometry here.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from app.benchmarks import logic
from app.benchmarks.schemas import Distribution, DistributionPoint, Heatmap, PeerMeasure, Profile, TrendPoint
from app.dashboard import charts as dashboard_charts
from app.i18n.translation import get_locale, gettext, in_reading_direction, isolated, use_locale

T = TypeVar("T")


def radar(profile: Profile, *, lang: str) -> bytes:
    """The cluster's CSF scores against the peer median, on 0-100, its words in `lang`. A median that may not be
    shown (too few peers) or a score that does not exist is not drawn at all: no dot at 0 that would read as a
    score."""
    csfs = [m for m in profile.measures if m.measure.kind == "csf"]
    with use_locale(lang):
        svg = dashboard_charts.radar_svg(
            [m.measure.title for m in csfs],
            [
                (gettext("This cluster"), [m.own for m in csfs], {"width": 3, "dash": ""}),
                (
                    gettext("Peer median"),
                    [m.peers.median if m.peers else None for m in csfs],
                    {"width": 2, "dash": "6,4"},
                ),
            ],
            width=760,
            height=600,
            title=in_reading_direction(
                gettext(
                    "%(cluster)s: success factor scores, %(period)s",
                    cluster=isolated(profile.cluster_name),
                    period=isolated(profile.period or ""),
                ),
                get_locale(),
            ),
        )
    return svg.encode()


# --- hand-drawn SVG charts ----------------------------------------------------------------
# The trend, distribution and position charts are drawn by templates/benchmarks/_charts.html from the
# geometry below, inline in the page: no script, no inline style (presentation attributes only, which the page's
# Content-Security-Policy allows), numbers formatted in the reader's locale by the template, and every figure
# that is withheld is simply not drawn (a line breaks at a missing period instead of bridging it).

Point = tuple[float, float]


@dataclass(frozen=True)
class Axis:
    """A value axis mapped onto pixels: `lo` at `bottom`, `hi` at `top`."""

    lo: float
    hi: float
    top: float
    bottom: float
    ticks: tuple[float, ...]

    def y(self, value: float) -> float:
        return round(self.bottom - (value - self.lo) / (self.hi - self.lo) * (self.bottom - self.top), 2)


def _nice_step(span: float, count: int) -> float:
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def axis_for(values: Iterable[float], *, score: bool, top: float, bottom: float) -> Axis:
    """0-100 for scores; for raw KPI values a range from 0 (or below, for negative values) to a round number
    above the largest value, with four or five ticks."""
    if score:
        return Axis(0.0, 100.0, top, bottom, (0.0, 25.0, 50.0, 75.0, 100.0))
    finite = [v for v in values if math.isfinite(v)]
    lo, hi = min([0.0, *finite]), max([0.0, *finite])
    if hi == lo:
        hi = lo + 1
    step = _nice_step(hi - lo, 4)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    ticks = tuple(lo + i * step for i in range(round((hi - lo) / step) + 1))
    return Axis(lo, hi, top, bottom, ticks)


def _runs(items: Sequence[tuple[float, T | None]]) -> list[list[tuple[float, T]]]:
    """Consecutive stretches without a missing value: a withheld period breaks the line."""
    runs: list[list[tuple[float, T]]] = [[]]
    for x, value in items:
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, value))
    return [run for run in runs if run]


@dataclass(frozen=True)
class TrendChart:
    width: int
    height: int
    left: float
    right: float
    axis: Axis
    x_labels: list[tuple[float, str]]
    own: list[list[Point]]  # line segments; a segment of one point is drawn as a dot only
    own_dots: list[tuple[Point, float]]
    median: list[list[Point]]
    median_dots: list[tuple[Point, float]]
    band: list[list[tuple[float, float, float]]]  # (x, y of q1, y of q3) per period of each stretch
    band_width: float  # of a stretch of one period, drawn as a bar


def trend_chart(points: Sequence[TrendPoint], *, score: bool, width: int = 480, height: int = 300) -> TrendChart:
    """The own value, the peer median and the interquartile band (q1-q3, only where both are shown) per period."""
    # Room below the plot for the period labels and a legend of two lines.
    left, right, top, bottom = 48.0, width - 16.0, 16.0, height - 70.0
    values = [v for p in points for v in (p.own, p.q1, p.peer_median, p.q3) if v is not None]
    axis = axis_for(values, score=score, top=top, bottom=bottom)
    step = (right - left) / max(len(points), 1)
    xs = [round(left + step * (i + 0.5), 2) for i in range(len(points))]
    own = _runs([(x, p.own) for x, p in zip(xs, points, strict=True)])
    median = _runs([(x, p.peer_median) for x, p in zip(xs, points, strict=True)])
    quartiles = [
        (x, (p.q1, p.q3) if p.q1 is not None and p.q3 is not None else None) for x, p in zip(xs, points, strict=True)
    ]
    return TrendChart(
        width=width,
        height=height,
        left=left,
        right=right,
        axis=axis,
        x_labels=[(x, p.period) for x, p in zip(xs, points, strict=True)],
        own=[[(x, axis.y(v)) for x, v in run] for run in own],
        own_dots=[((x, axis.y(v)), v) for run in own for x, v in run],
        median=[[(x, axis.y(v)) for x, v in run] for run in median],
        median_dots=[((x, axis.y(v)), v) for run in median for x, v in run],
        band=[[(x, axis.y(q[0]), axis.y(q[1])) for x, q in run] for run in _runs(quartiles)],
        band_width=round(min(step * 0.5, 24.0), 2),
    )


@dataclass(frozen=True)
class Bar:
    cluster_id: int
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float
    marked: bool


@dataclass(frozen=True)
class DistributionChart:
    width: int
    height: int
    left: float
    right: float
    axis: Axis
    zero: float
    bars: list[Bar]
    # With more clusters than pixel columns: no bar each, but the values as one shape, a point (x, y) per column
    # (its largest value), and only the marked cluster's bar.
    outline: list[tuple[float, float]]
    quartiles: list[tuple[str, float, float, float]]  # (name, value, y of the line, y of its label)
    marked: Bar | None


# Labels 13 units high: close quartiles (48, 49, 52 on a 0-100 axis) would write their labels over each other.
LABEL_SPACING = 15.0


def _spread(ys: Sequence[float], *, apart: float, top: float, bottom: float) -> list[float]:
    """Baselines for labels wanted at `ys` (top to bottom), between `top` and `bottom`: each where wanted, or
    pushed down until it is `apart` below the one above, and back up if that took the last past `bottom`."""
    placed: list[float] = []
    for y in ys:
        placed.append(max(y, top, placed[-1] + apart) if placed else max(y, top))
    for i in reversed(range(len(placed))):
        placed[i] = min(placed[i], bottom if i == len(placed) - 1 else placed[i + 1] - apart)
    return placed


def distribution_chart(
    points: Sequence[DistributionPoint],
    quartiles: Sequence[tuple[str, float | None]],
    *,
    score: bool,
    marked: int | None,
    width: int = 560,
    height: int = 300,
) -> DistributionChart:
    """One bar per cluster, largest first, the quartile lines across, and the cluster `marked` in another colour.
    A programme of thousands of clusters has more clusters than the chart has pixel columns: their values are
    drawn as one shape instead (the page stays small), and the marked cluster's bar at least 2 px wide."""
    left, right, top, bottom = 48.0, width - 16.0, 24.0, height - 24.0
    axis = axis_for([p.value for p in points], score=score, top=top, bottom=bottom)
    zero = axis.y(max(axis.lo, 0.0))
    step = (right - left) / max(len(points), 1)
    gap = step * 0.15 if step >= 4 else 0.0

    def bar(i: int, p: DistributionPoint) -> Bar:
        y = axis.y(p.value)
        return Bar(
            cluster_id=p.cluster_id,
            label=p.cluster_name,
            value=p.value,
            x=round(left + i * step + gap / 2, 2),
            y=min(y, zero),
            width=round(max(step - gap, 2.0 if step < 1 else 0.0), 2),
            height=round(abs(zero - y), 2),
            marked=p.cluster_id == marked,
        )

    outline: list[tuple[float, float]] = []
    if step >= 1:
        bars = [bar(i, p) for i, p in enumerate(points)]
    else:
        bars = [bar(i, p) for i, p in enumerate(points) if p.cluster_id == marked]
        columns = range(int(right - left) + 1)
        outline = [(left + c, round(axis.y(points[min(int(c / step), len(points) - 1)].value), 2)) for c in columns]
    # Top to bottom; of equal quartiles, the upper one's label on top.
    lines = sorted((axis.y(q), -i, name, q) for i, (name, q) in enumerate(quartiles) if q is not None)
    labels = _spread([y - 4 for y, *_ in lines], apart=LABEL_SPACING, top=LABEL_SPACING, bottom=height - 4)
    shown = [(name, q, y, label) for (y, _i, name, q), label in zip(lines, labels, strict=True)]
    return DistributionChart(
        width, height, left, right, axis, zero, bars, outline, shown, next((b for b in bars if b.marked), None)
    )


@dataclass(frozen=True)
class PositionRow:
    title: str
    y: float
    own: float | None  # x of the cluster's own value
    own_value: float | None
    q1: float | None
    median: float | None
    q3: float | None


@dataclass(frozen=True)
class PositionChart:
    width: int
    height: int
    left: float
    right: float
    ticks: list[tuple[float, float]]  # (x, value)
    rows: list[PositionRow]


def position_chart(measures: Sequence[PeerMeasure], *, width: int = 480, row_height: int = 36) -> PositionChart:
    """Each score (0-100) on a horizontal scale: the peers' interquartile box and median where they are shown,
    and the cluster's own value as a dot. Only figures the profile shows are drawn; min and max never are."""
    left, right = 8.0, width - 16.0

    def x(value: float | None) -> float | None:
        return None if value is None else round(left + value / 100 * (right - left), 2)

    rows = []
    for i, m in enumerate(measures):
        peers = m.peers
        rows.append(
            PositionRow(
                title=m.measure.title,
                y=round(24 + i * row_height + row_height / 2, 2),
                own=x(m.own),
                own_value=m.own,
                q1=x(peers.q1) if peers else None,
                median=x(peers.median) if peers else None,
                q3=x(peers.q3) if peers else None,
            )
        )
    ticks = [(x(v) or 0.0, v) for v in (0.0, 25.0, 50.0, 75.0, 100.0)]
    return PositionChart(width, 24 + len(rows) * row_height + 24, left, right, ticks, rows)


def heat_shades(data: Heatmap) -> dict[str, dict[int, int | None]]:
    """Each cell's shade (logic.heat_shade): scores by their value, KPI values by their column's quartiles over
    all rows, so a cluster's shade does not depend on the page it is on."""
    out: dict[str, dict[int, int | None]] = {}
    for m in data.measures:
        quartiles = data.quartiles[m.key] or ()
        score = m.kind != "kpi"
        out[m.key] = {
            r.cluster_id: logic.heat_shade(r.values[m.key], score=score, quartiles=quartiles) for r in data.rows
        }
    return out


def distribution_of(data: Distribution, *, marked: int | None) -> DistributionChart:
    stats = data.stats
    quartiles = [("q1", stats.q1), ("median", stats.median), ("q3", stats.q3)] if stats else []
    return distribution_chart(data.points, quartiles, score=data.measure.kind != "kpi", marked=marked)
