"""PDF reports: a print view's HTML, laid out by WeasyPrint on the server, with page numbers and the date.

The HTML is the print view's own (the same template, context and authorisation), so the PDF and the browser's
print-out never drift apart. WeasyPrint reads only the application's static files and data: URIs (the charts);
any other address is refused, so a report never waits on, or leaks to, another site.
"""

from datetime import date
from typing import Any
from urllib.parse import urlsplit

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
    )


def pdf_of(html: str, *, base_url: str, printed_on: date) -> bytes:
    """The report as PDF bytes; call inside the reader's locale (app.i18n.translation.use_locale)."""
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
