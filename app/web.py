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
from app.i18n.routes import formats_of, locale_of
from app.i18n.translation import RIGHT_TO_LEFT, SCRIPT_FONTS, Msg, html_lang, use_locale

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
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The whole page for a plain request, only `block` for an htmx request, from the same template."""
    locale = locale_of(request)
    full_context = {
        "request": request,
        "locale": locale,
        "lang": html_lang(locale),
        "direction": "rtl" if locale in RIGHT_TO_LEFT else "ltr",
        "script_font": SCRIPT_FONTS.get(locale),
        "csrf_token": request.session.get("csrf", ""),
        "principal": getattr(request.state, "principal", None),
        **(context or {}),
    }
    block_name = block if block and is_htmx(request) else None
    with use_locale(formats_of(request)):  # rendered here, so gettext and the number filters see this locale
        response = templates.TemplateResponse(
            request, template, full_context, status_code=status_code, block_name=block_name
        )
    assert isinstance(response, HTMLResponse)
    response.headers["Vary"] = "HX-Request, Accept-Language, Cookie"
    response.headers["Content-Language"] = html_lang(locale)
    response.headers.update(headers or {})
    return response


def render_mail(template: str, locale: str, **context: Any) -> tuple[str, str]:
    """A plain-text email in `locale` (the recipient's language, not the sender's): its first line is the subject,
    the rest after a blank line the body."""
    with use_locale(locale):
        shown = {key: value.localized() if isinstance(value, Msg) else value for key, value in context.items()}
        text = templates.env.get_template(template).render(**shown)
    subject, _, body = text.strip().partition("\n\n")
    return subject.strip(), body.strip() + "\n"
