"""PDF reports: a print view's HTML, laid out by WeasyPrint on the server, with page numbers and the date.

The HTML is the print view's own (the same template, context and authorisation), so the PDF and the browser's
print-out never drift apart. WeasyPrint reads only the application's static files and data: URIs (the charts);
any other address is refused, so a report never waits on, or leaks to, another site.

The one difference: WeasyPrint draws the words of an SVG one character at a time (Kozea/WeasyPrint#2909), so Thai
vowels and tone marks came out on dotted circles and Arabic unjoined. resvg shapes text as a browser does: every
chart goes into the PDF as a picture resvg drew from the same SVG.
"""

import base64
import re
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import resvg_py
from fastapi import Request
from fastapi.responses import Response
from weasyprint import CSS, HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from app.config import ROOT
from app.i18n.routes import formats_of
from app.i18n.translation import _l, format_date, use_locale
from app.timeutil import utcnow
from app.web import render

STATIC = ROOT / "static"

# Charts are drawn at twice their size and shown at their own (page_css): 192 dpi on paper.
CHART_ZOOM = 2
# The charts' fonts, regular faces only: among every installed font resvg's fallback took bold Thai and Arabic.
# DejaVu Sans first, as in the report's text: it has Latin and Arabic, so a label mixing Arabic with brackets stays in
# one font (from Noto Sans, resvg did not fall back to Arabic for such a label: boxes); Thai falls back to Noto.
CHART_FONTS = ("DejaVuSans.ttf", "NotoSansThai-Regular.ttf", "NotoSansArabic-Regular.ttf", "NotoSans-Regular.ttf")
_INLINE_SVG = re.compile(r"<svg\b(?P<attributes>[^>]*)>(?P<body>.*?)</svg>", re.S)
_SVG_DATA_URI = re.compile(r"data:image/svg\+xml;base64,(?P<data>[A-Za-z0-9+/=]+)")


class _LocalFetcher(URLFetcher):
    """Static files from disk and data: URIs; every other address is refused."""

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        if url.startswith("data:"):
            return super().fetch(url, headers)
        path = urlsplit(url).path
        if path.startswith("/static/"):
            file = (STATIC / path.removeprefix("/static/")).resolve()
            if file.is_relative_to(STATIC.resolve()) and file.is_file():
                return URLFetcherResponse(url, file.read_bytes(), {"Content-Type": _mime(file.suffix)})
        raise ValueError(f"not fetched for a report: {url}")


def _mime(suffix: str) -> str:
    return {".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}.get(suffix, "application/octet-stream")


def _css_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def page_css(*, printed_on: date) -> str:
    """A4 pages whose footer gives the date and "Page n of N" in the current locale (CSS page counters)."""
    # The translation keeps its placeholders where the language puts them; the counters go in their place.
    marker = "\x00"
    words = _l("Page %(page)s of %(pages)s", page=f"{marker}page{marker}", pages=f"{marker}pages{marker}").localized()
    parts = []
    for i, piece in enumerate(words.split(marker)):
        if i % 2:
            parts.append(f"counter({piece})")
        elif piece:
            parts.append(_css_string(piece))
    day = _css_string(format_date(printed_on, format="long"))
    footer = "font-family: 'DejaVu Sans', 'Noto Sans Thai', sans-serif; font-size: 8pt; color: #52606d"
    return (
        f"@page {{ size: A4; margin: 16mm 14mm 18mm; @bottom-left {{ content: {day}; {footer} }}"
        f" @bottom-right {{ content: {' '.join(parts)}; {footer} }} }}"
        " body { font-family: 'DejaVu Sans', 'Noto Sans', 'Noto Sans Thai', sans-serif; font-size: 9pt }"
        " .visually-hidden { display: none }"
        # Long tables break across pages; a chart, a caption and a topic stay in one piece.
        " figure, li.topic, tr { break-inside: avoid } caption, h2, h3 { break-after: avoid }"
        " figure.radar { display: block } figure img, svg.chart { display: block; max-width: 100%; height: auto }"
        f" img[src^='data:image/png'] {{ image-resolution: {CHART_ZOOM}dppx }}"
    )


@cache
def _chart_fonts() -> list[str]:
    return [str(path) for name in CHART_FONTS for path in sorted(Path("/usr/share/fonts").rglob(name))[:1]]


def _png_uri(svg: str) -> str:
    """`svg` drawn by resvg at CHART_ZOOM times its size (sharp on paper), as a data: URI."""
    fonts = _chart_fonts()
    png = resvg_py.svg_to_bytes(
        svg_string=svg,
        zoom=CHART_ZOOM,
        skip_system_fonts=bool(fonts),
        font_files=fonts or None,
        sans_serif_family="DejaVu Sans",
    )
    return "data:image/png;base64," + base64.b64encode(bytes(png)).decode()


def _picture(chart: re.Match[str]) -> str:
    """An inline SVG chart as an <img> of the same size, named by the chart's own title and description."""
    attributes = chart["attributes"]
    svg = chart[0] if "xmlns=" in attributes else chart[0].replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"', 1)
    size = dict(re.findall(r'\b(width|height)="([\d.]+)"', attributes))
    words = " ".join(re.findall(r"<(?:title|desc)\b[^>]*>([^<]*)</", chart["body"]))
    return f'<img class="chart" src="{_png_uri(svg)}" width="{size["width"]}" height="{size["height"]}" alt="{words}">'


def charts_as_pictures(html: str) -> str:
    """Every chart of the page, inline SVG or an SVG data: URI, as a PNG drawn by resvg (module docstring)."""
    html = _SVG_DATA_URI.sub(lambda uri: _png_uri(base64.b64decode(uri["data"]).decode()), html)
    return _INLINE_SVG.sub(_picture, html)


def pdf_of(html: str, *, base_url: str, printed_on: date) -> bytes:
    """The report as PDF bytes; call inside the reader's locale (app.i18n.translation.use_locale)."""
    html = charts_as_pictures(html)
    document = HTML(string=html, base_url=base_url, url_fetcher=_LocalFetcher(), media_type="print")
    pdf: bytes = document.write_pdf(stylesheets=[CSS(string=page_css(printed_on=printed_on))])
    return pdf


def pdf_response(request: Request, template: str, context: dict[str, Any], *, filename: str) -> Response:
    """The print view `template` with `context`, as a PDF download in the reader's language."""
    page = render(request, template, {**context, "pdf": True})
    with use_locale(formats_of(request)):
        body = pdf_of(bytes(page.body).decode(), base_url=str(request.base_url), printed_on=utcnow().date())
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}
    headers["Content-Language"] = page.headers["Content-Language"]
    return Response(body, media_type="application/pdf", headers=headers)
