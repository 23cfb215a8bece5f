"""Server-rendered SVG charts (pygal): no JavaScript, crisp on a projector and on paper.

Each chart is embedded as an <img> data URI: the page's Content-Security-Policy forbids the inline
<style> pygal writes into its SVG, and an SVG loaded as an image runs no script either. Every chart
sits next to a table with the same numbers, its text alternative.
"""

import base64
import math
import textwrap
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from html import escape

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
    svg = radar_svg(
        axes,
        [
            (label, values, {"width": 4 if index == 0 else 2, "dash": "" if index == 0 else "6,4"})
            for index, (label, values) in enumerate(series)
        ],
        width=560,
        height=460,
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def radar_svg(
    axes: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None], dict[str, object]]],
    *,
    width: int,
    height: int,
    title: str = "",
) -> str:
    """A spider chart on 0-100 drawn here rather than by pygal, which puts a missing value at 0 (a dot in the
    middle, a line to it): a value that is missing or suppressed is not drawn at all, lines join only
    neighbouring values that exist, and every value that exists has its dot, so a lone one still shows.
    `series`: (label, values in the order of `axes`, {"width": stroke width, "dash": dash pattern})."""
    top = 34 if title else 8
    legend_y = height - 14
    cx, cy = width / 2, top + (legend_y - 24 - top) / 2
    # Room around the circle for axis labels of two lines of up to 16 characters.
    radius = min(width / 2 - 130, (legend_y - 24 - top) / 2 - 48)
    n = len(axes)

    def point(index: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * index / n
        return cx + radius * value / 100 * math.cos(angle), cy + radius * value / 100 * math.sin(angle)

    muted = 'font-family="system-ui, sans-serif" fill="#4a5561"'
    font = f'font-family="system-ui, sans-serif" fill="{STYLE.foreground}"'
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    ]
    parts.append(f'<rect width="{width}" height="{height}" fill="white"/>')
    if title:
        parts.append(f'<text x="{cx:.1f}" y="22" text-anchor="middle" font-size="16" {font}>{escape(title)}</text>')
    # Without axes (nothing scored yet) the chart is its frame and legend only.
    for level in (20, 40, 60, 80, 100) if n else ():
        ring = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, level) for i in range(n)))
        parts.append(f'<polygon points="{ring}" fill="none" stroke="#c9d1d9" stroke-dasharray="4,3"/>')
        x, y = point(0, level)
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 4:.1f}" font-size="11" {muted}>{level}</text>')
    for index, label in enumerate(axes):
        x, y = point(index, 100)
        parts.append(f'<line x1="{cx:.1f}" y1="{cy:.1f}" x2="{x:.1f}" y2="{y:.1f}" stroke="#8c959f"/>')
        lx, ly = point(index, 112)
        anchor = "middle" if abs(lx - cx) < 1 else "start" if lx > cx else "end"
        lines = _wrap(label, 16)
        ly += (
            5 - (len(lines) - 1) * 8 if abs(ly - cy) < radius * 0.9 else (12 if ly > cy else -4 - (len(lines) - 1) * 16)
        )
        # A <text> per line, not <tspan>s: resvg (the PDF's charts) placed a right-to-left second line over the first.
        at = f'text-anchor="{anchor}" font-size="14" {font}'
        parts.extend(
            f'<text x="{lx:.1f}" y="{ly + 16 * i:.1f}" {at}>{escape(line)}</text>' for i, line in enumerate(lines)
        )
    legend_x = 20.0
    for number, (label, values, stroke) in enumerate(series):
        colour = STYLE.colors[number % len(STYLE.colors)]
        dash = f'stroke-dasharray="{stroke["dash"]}"' if stroke["dash"] else ""
        line = f'stroke="{colour}" stroke-width="{stroke["width"]}" {dash} stroke-linecap="round"'
        for index in range(n):
            here, after = values[index], values[(index + 1) % n]
            if here is not None and after is not None and n > 1:
                (x1, y1), (x2, y2) = point(index, here), point((index + 1) % n, after)
                parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" {line}/>')
        for index, value in enumerate(values):
            if value is not None:
                x, y = point(index, value)
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"/>')
        parts.append(
            f'<line x1="{legend_x:.1f}" y1="{legend_y - 4}" x2="{legend_x + 24:.1f}" y2="{legend_y - 4}" {line}/>'
        )
        parts.append(f'<text x="{legend_x + 30:.1f}" y="{legend_y}" font-size="14" {font}>{escape(label)}</text>')
        legend_x += 60 + 8 * len(label)
    parts.append("</svg>")
    return "".join(parts)


def _wrap(text: str, width: int) -> list[str]:
    """An axis label on at most two lines, shortened with an ellipsis beyond (the table beside has it whole)."""
    lines = textwrap.wrap(text, width) or [""]
    # Thai writes words without spaces, so textwrap cuts inside one: a vowel or tone mark stays with its letter.
    for i in range(1, len(lines)):
        while lines[i] and unicodedata.category(lines[i][0]) in ("Mn", "Mc"):
            lines[i - 1], lines[i] = lines[i - 1] + lines[i][0], lines[i][1:]
    lines = [line for line in lines if line]
    if len(lines) > 2:
        lines = [lines[0], textwrap.shorten(" ".join(lines[1:]), width, placeholder="…")]
    return lines


@lru_cache(maxsize=256)
def _trend(labels: tuple[str, ...], series: tuple[tuple[str, tuple[logic.TrendPoint, ...]], ...]) -> str:
    chart = pygal.Line(width=640, height=320, allow_interruptions=True, **_config())
    chart.x_labels = list(labels)
    for index, (name, points) in enumerate(series):
        chart.add(name, [p.value for p in points], stroke_style={"width": 4 if index == 0 else 2})
    return _data_uri(chart)
