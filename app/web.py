"""Server-rendered pages: one Jinja2 environment, and one render() that answers htmx with a fragment."""

import hashlib
from functools import cache
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2_fragments.fastapi import Jinja2Blocks
from starlette.datastructures import FormData

from app.config import ROOT
from app.i18n import templating
from app.i18n.routes import locale_of
from app.i18n.translation import html_lang, use_locale

# htmx is pinned, and the CDN copy is checked by its subresource-integrity hash.
HTMX_VERSION = "2.0.11"
HTMX_CDN_URL = f"https://unpkg.com/htmx.org@{HTMX_VERSION}/dist/htmx.min.js"
HTMX_CDN_ORIGIN = "https://unpkg.com"
HTMX_SRI = "sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg"

templates = Jinja2Blocks(directory=str(ROOT / "templates"))
# Every interface string goes through gettext: {{ _("...") }} in templates, in the request's locale
# (see app.i18n.translation); filters format_decimal, format_percent, format_date, lang_label.
templating.install(templates.env)


@cache
def _static_version(name: str) -> str:
    return hashlib.sha256((ROOT / "static" / name).read_bytes()).hexdigest()[:10]


def static_url(name: str) -> str:
    """A content-hashed URL, so static files can be cached for a year and still never go stale."""
    return f"/static/{name}?v={_static_version(name)}"


templates.env.globals["static_url"] = static_url


async def _posted_form(request: Request) -> FormData:
    """Read in the event loop, so that a handler taking the form can be a plain function: its database work
    then runs in the thread pool instead of blocking every other request on the loop."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(_posted_form)]


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def redirect_after_post(url: str, request: Request) -> Response:
    """After a successful POST: HX-Redirect for htmx (it would otherwise swap the next page into the
    current one), 303 otherwise, so a reload never posts again."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    block: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The whole page for a plain request, only `block` for an htmx request, from the same template."""
    settings = request.app.state.settings
    locale = locale_of(request)
    full_context = {
        "request": request,
        "locale": locale,
        "lang": html_lang(locale),
        "csrf_token": request.session.get("csrf", ""),
        "principal": getattr(request.state, "principal", None),
        "htmx_src": static_url("vendor/htmx.min.js") if settings.htmx_src == "local" else HTMX_CDN_URL,
        "htmx_sri": None if settings.htmx_src == "local" else HTMX_SRI,
        **(context or {}),
    }
    block_name = block if block and is_htmx(request) else None
    with use_locale(locale):  # the template is rendered here, so its gettext calls see this locale
        response = templates.TemplateResponse(
            request, template, full_context, status_code=status_code, block_name=block_name
        )
    assert isinstance(response, HTMLResponse)
    response.headers["Vary"] = "HX-Request, Accept-Language, Cookie"
    response.headers["Content-Language"] = html_lang(locale)
    return response
