"""SVG charts (pygal). Every chart has a table next to it on the page, which is its text alternative."""

import re

import pygal
from pygal.style import Style

from app.benchmarks.schemas import Profile

_STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1f2933",
    foreground_strong="#1f2933",
    foreground_subtle="#7b8794",
    colors=("#0b5fff", "#d64545"),
    font_family="system-ui, sans-serif",
)


_SCRIPT = re.compile(rb"<script[^>]*>.*?</script>", re.DOTALL)


def _short(title: str, limit: int = 28) -> str:
    return title if len(title) <= limit else title[: limit - 1] + "…"


def radar(profile: Profile) -> bytes:
    """The cluster's CSF scores against the peer median, on 0-100 (only medians that may be shown)."""
    csfs = [m for m in profile.measures if m.measure.kind == "csf"]
    chart = pygal.Radar(
        style=_STYLE,
        range=(0, 100),
        fill=False,
        js=[],  # no script: the page's security policy allows none, and the chart needs none
        width=720,
        height=560,
        legend_at_bottom=True,
        show_dots=True,
        title=f"{profile.cluster_name}: CSF scores, {profile.period or ''}",
    )
    chart.x_labels = [_short(m.measure.title) for m in csfs]
    chart.add("This cluster", [m.own for m in csfs])
    chart.add("Peer median", [m.peers.median if m.peers else None for m in csfs])
    svg: bytes = chart.render()
    # pygal still writes an inline config script for its optional tooltips; drop it.
    return _SCRIPT.sub(b"", svg)
