"""The request's locale (a dependency every request runs) and the language switch."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.audit import service as audit
from app.auth.deps import PrincipalDep
from app.deps import SessionDep
from app.errors import InvalidInput
from app.i18n.negotiation import choose_locale, regional_variant, supported

LANGUAGE_COOKIE = "clusterscore_lang"
LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600

router = APIRouter(tags=["pages"], include_in_schema=False)


async def current_locale(request: Request, principal: PrincipalDep) -> str:
    """Chosen once per request, while the principal's rows can still be read (error pages render after
    the database session has rolled back), and kept on request.state for render() and error handlers.
    Async because it only reads what load_principal loaded: no trip through the thread pool."""
    locale = choose_locale(
        participant_language=principal.participant.language if principal.participant else None,
        user_language=principal.user.language if principal.user else None,
        cookie=request.cookies.get(LANGUAGE_COOKIE),
        accept_language=request.headers.get("accept-language"),
    )
    request.state.locale = locale
    request.state.formats = regional_variant(locale, request.headers.get("accept-language"))
    return locale


LocaleDep = Annotated[str, Depends(current_locale)]


async def current_formats(request: Request, _locale: LocaleDep) -> str:
    """The Babel locale the request's numbers and dates are written and read in (e.g. "es_MX")."""
    return formats_of(request)


FormatsDep = Annotated[str, Depends(current_formats)]


def locale_of(request: Request) -> str:
    """The request's locale; before current_locale has run (a CSRF refusal), the cookie or browser decides."""
    locale = getattr(request.state, "locale", None)
    if isinstance(locale, str):
        return locale
    return choose_locale(
        cookie=request.cookies.get(LANGUAGE_COOKIE), accept_language=request.headers.get("accept-language")
    )


def formats_of(request: Request) -> str:
    """The request's formatting locale: its language, in the browser's region when the browser speaks it."""
    formats = getattr(request.state, "formats", None)
    if isinstance(formats, str):
        return formats
    return regional_variant(locale_of(request), request.headers.get("accept-language"))


def _local_path(url: str) -> str:
    """Only a path on this site: the switch must not become an open redirect."""
    if url.startswith("/") and not url.startswith(("//", "/\\")):
        return url
    return "/"


@router.post("/language")
def choose_language(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    language: Annotated[str, Form(max_length=35)],
    next_url: Annotated[str, Form(alias="next", max_length=2000)] = "/",
) -> Response:
    """The switch on every page: a cookie for this browser, and the profile of whoever is logged in,
    so the choice follows a member's link or a user's login to another device."""
    locale = supported(language)
    if locale is None:
        raise InvalidInput("This language is not available.")
    owner = principal.participant or (principal.user if not principal.via_api_token else None)
    if owner is not None and owner.language != locale:
        before = owner.language
        owner.language = locale
        session.add(owner)
        session.flush()
        audit.record(
            session,
            actor=principal.actor,
            action="language_chosen",
            entity="participant" if principal.participant else "user",
            entity_id=owner.id,
            cluster_id=principal.participant.cluster_id if principal.participant else None,
            before={"language": before},
            after={"language": locale},
        )
    response = RedirectResponse(_local_path(next_url), status_code=303)
    response.set_cookie(
        LANGUAGE_COOKIE,
        locale,
        max_age=LANGUAGE_COOKIE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.environment == "production",
    )
    return response
