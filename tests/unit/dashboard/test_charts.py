"""The radar draws nothing for a value that is missing or suppressed: no dot at 0, no line to the centre."""

import math
import unicodedata
import xml.etree.ElementTree as ET

from app.dashboard.charts import radar_svg

SVG = "{http://www.w3.org/2000/svg}"
SOLID = {"width": 4, "dash": ""}


def _shapes(svg: str) -> tuple[list[tuple[float, float]], list[tuple[float, float, float, float]]]:
    root = ET.fromstring(svg)
    dots = [(float(c.get("cx", 0)), float(c.get("cy", 0))) for c in root.iter(f"{SVG}circle")]
    series_lines = [
        tuple(float(line.get(k, 0)) for k in ("x1", "y1", "x2", "y2"))
        for line in root.iter(f"{SVG}line")
        if line.get("stroke-width") == "4"
    ]
    return dots, series_lines  # type: ignore[return-value]


def test_missing_values_are_not_drawn_and_present_ones_are_joined_only_to_present_neighbours() -> None:
    svg = radar_svg(["A", "B", "C", "D"], [("2026", [50, None, 80, 100], SOLID)], width=560, height=460)
    dots, lines = _shapes(svg)
    legend = [line for line in lines if line[1] == line[3] and line[0] + 24 == line[2]]
    assert len(dots) == 3  # A, C, D: nothing for B
    assert len(lines) - len(legend) == 2  # C-D and D-A; A-B and B-C would go to a missing value
    centre = ET.fromstring(svg).find(f"{SVG}line")  # the first axis starts at the centre
    assert centre is not None
    cx, cy = float(centre.get("x1", 0)), float(centre.get("y1", 0))
    assert all(math.dist(dot, (cx, cy)) > 10 for dot in dots)  # no dot in the middle


def test_a_lone_value_still_shows_as_a_dot_and_an_empty_series_draws_nothing() -> None:
    svg = radar_svg(
        ["A", "B", "C"], [("now", [None, 42, None], SOLID), ("peers", [None, None, None], SOLID)], width=560, height=460
    )
    dots, lines = _shapes(svg)
    assert len(dots) == 1
    assert all(line[1] == line[3] for line in lines)  # only the two legend keys


def test_a_radar_without_axes_is_an_empty_frame() -> None:
    svg = radar_svg([], [("now", [], SOLID)], width=560, height=460, title="Nothing scored yet")
    dots, _lines = _shapes(svg)
    assert dots == [] and ET.fromstring(svg).find(f"{SVG}polygon") is None
    assert "Nothing scored yet" in svg


def test_a_thai_axis_label_is_never_cut_between_a_letter_and_its_marks() -> None:
    """Thai has no spaces between words: textwrap cut "การเข้าถึงสินเชื่อได้ง่าย" after 16 characters, between
    "ช" and its vowel "ื", leaving the vowel and the tone mark alone at the start of the second line."""
    label = "การเข้าถึงสินเชื่อได้ง่าย"
    svg = radar_svg([label, "B", "C"], [("2026", [50, 60, 70], SOLID)], width=560, height=460)
    lines = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.text and t.text in label]
    assert "".join(lines) == label
    assert len(lines) == 2 and all(not unicodedata.category(line[0]).startswith("M") for line in lines)
