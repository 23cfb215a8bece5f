"""Server-rendered SVG charts (pygal): no JavaScript, crisp on a projector and on paper.

Each chart is embedded as an <img> data URI: the page's Content-Security-Policy forbids the inline
<style> pygal writes into its SVG, and an SVG loaded as an image runs no script either. Every chart
sits next to a table with the same numbers, its text alternative.
"""

import base64
from functools import lru_cache

import pygal
from pygal.style import Style

from app.dashboard import logic

STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1b1f24",
    foreground_strong="#1b1f24",
    foreground_subtle="#8c959f",
    font_family="system-ui, sans-serif",
    label_font_size=14,
    major_label_font_size=14,
    legend_font_size=14,
    value_font_size=12,
    # Current round in a strong blue, earlier rounds in greys; differ in dash too for print.
    colors=("#0b5cad", "#8c959f", "#1a7f37", "#9a6700", "#b3261e", "#6e40c9"),
)


def _data_uri(chart: pygal.graph.graph.Graph) -> str:
    svg = chart.render(is_unicode=True)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _config() -> dict[str, object]:
    return {
        "style": STYLE,
        "disable_xml_declaration": True,
        "js": [],
        "show_y_guides": True,
        "range": (0, 100),
        "legend_at_bottom": True,
        "print_values": False,
        "margin": 10,
        "margin_right": 40,
        # Dots (and their tooltip data) are most of pygal's rendering time; lines carry the message.
        "show_dots": False,
    }


def radar(axes: list[str], series: list[tuple[str, list[float | None]]]) -> str:
    """Perspective scores on a spider chart, one line per round (current first)."""
    return _radar(tuple(axes), tuple((label, tuple(values)) for label, values in series))


def trend(labels: list[str], series: list[tuple[str, list[logic.TrendPoint]]]) -> str:
    """Overall and perspective scores over the rounds so far."""
    return _trend(tuple(labels), tuple((name, tuple(points)) for name, points in series))


# A chart is a pure function of its numbers, and rendering one costs more than the rest of the page;
# the same numbers (a poll that found a note but no new answer, another facilitator) reuse the SVG.
@lru_cache(maxsize=256)
def _radar(axes: tuple[str, ...], series: tuple[tuple[str, tuple[float | None, ...]], ...]) -> str:
    chart = pygal.Radar(width=560, height=460, fill=False, **_config())
    chart.x_labels = list(axes)
    for index, (label, values) in enumerate(series):
        current = index == 0
        chart.add(
            label, list(values), stroke_style={"width": 4 if current else 2, "dasharray": "" if current else "6,4"}
        )
    return _data_uri(chart)


@lru_cache(maxsize=256)
def _trend(labels: tuple[str, ...], series: tuple[tuple[str, tuple[logic.TrendPoint, ...]], ...]) -> str:
    chart = pygal.Line(width=640, height=320, allow_interruptions=True, **_config())
    chart.x_labels = list(labels)
    for index, (name, points) in enumerate(series):
        chart.add(name, [p.value for p in points], stroke_style={"width": 4 if index == 0 else 2})
    return _data_uri(chart)
