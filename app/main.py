"""Application factory: settings, database engine, middleware, routers and the one place errors become responses."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, IntegrityError
from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import apidocs, redaction
from app.auth.deps import failed_attempts, load_principal, verify_csrf
from app.auth.routes import api as access_api
from app.auth.routes import pages as auth_pages
from app.benchmarks import refresher as benchmark_refresher
from app.benchmarks.routes import api as benchmarks_api
from app.benchmarks.routes import pages as benchmark_pages
from app.clusters.pages import pages as setup_pages
from app.clusters.routes import router as clusters_api
from app.config import ROOT, Settings, get_settings
from app.dashboard.routes import pages as facilitator_pages
from app.db import DatabaseTurns, make_engine, open_session
from app.errors import API_ERROR_RESPONSES, AppError, NotFound, Unauthorized
from app.home import router as home_pages
from app.i18n.routes import current_locale, locale_of
from app.i18n.routes import router as i18n_pages
from app.i18n.translation import _l, translated
from app.interop.routes import MAX_IMPORT_BODY, is_openrosa, openrosa_error
from app.interop.routes import openrosa as openrosa_routes
from app.interop.routes import router as interop_api
from app.people.routes import api as people_api
from app.people.routes import pages as people_pages
from app.request_body import BodyLimit
from app.responses.pages import pages as member_form_pages
from app.responses.routes import router as responses_api
from app.rounds.routes import router as rounds_api
from app.scorecards import service as scorecard_service
from app.scorecards.routes import router as scorecards_api
from app.scoring.routes import router as scoring_api
from app.web import is_htmx, render, templates

log = logging.getLogger("clusterscore")


class SecurityHeaders:
    """Headers every response carries, and the content security policy on documents.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs the app in a
    task of its own behind memory streams, which cost more than the rest of a member's autosave.
    """

    def __init__(self, app: ASGIApp, *, csp: str) -> None:
        self.app, self.csp = app, csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A policy for documents only: an htmx fragment lives under its page's policy, and every byte
        # counts on a member's 2G autosave. A page may set a policy of its own (app.apidocs).
        fragment = is_htmx(Request(scope))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if not fragment and headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", self.csp)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                # Member links carry their token in the URL: never send it on to another site.
                headers["Referrer-Policy"] = "no-referrer"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CachedStaticFiles(StaticFiles):
    """Static URLs carry a content hash (app.web.static_url), so they can be cached for a year."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def _readable_validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """One plain message per field, e.g. {"field": "body.target", "message": "Input should be a valid number"}."""
    return [{"field": ".".join(str(part) for part in err["loc"]), "message": err["msg"]} for err in exc.errors()]


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(("/api/", "/openapi", "/docs"))


async def app_error(request: Request, exc: AppError) -> Response:
    """The one error path: an HTML page (or its htmx fragment) for pages, JSON for the API, XML for OpenRosa."""
    headers = exc.headers
    if is_openrosa(request):
        response = openrosa_error(request, exc.message, exc.status_code, exc.details)
        response.headers.update(headers)
        return response
    if _wants_html(request):
        if isinstance(exc, Unauthorized) and request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        context = {"title": _l("Not possible"), "message": exc.message}
        return render(request, "error.html", context, status_code=exc.status_code, headers=headers)
    locale = locale_of(request)
    body: dict[str, object] = {"detail": exc.message.localized(locale)}
    if exc.details is not None:
        body["errors"] = translated(exc.details, locale)
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    redaction.install()
    engine = make_engine(settings.database_url)
    # Templates change with a deployment, which restarts the workers: only development checks their files.
    templates.env.auto_reload = settings.environment == "development"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.load_scorecards_on_startup:
            # Every worker loads them as it starts: on SQLite as the writer from the first statement, so that workers
            # starting together wait for each other instead of one failing to boot ("database is locked").
            with open_session(engine, writes=True) as session:
                loaded = scorecard_service.load_directory(session, settings.scorecards_dir)
                session.commit()
            for version in loaded:
                log.info("loaded scorecard template %s version %s", version.key, version.version)
        async with anyio.create_task_group() as background:
            if settings.benchmark_refresh_seconds:
                background.start_soon(benchmark_refresher.keep_current, engine, settings.benchmark_refresh_seconds)
            yield
            background.cancel_scope.cancel()
        engine.dispose()

    app = FastAPI(
        title="ClusterScore",
        version="0.1.0",
        summary="Participatory monitoring and evaluation of cluster initiatives with balanced scorecards.",
        lifespan=lifespan,
        docs_url=None,  # app.apidocs serves both from local files
        redoc_url=None,
        # Every request: refuse a state change without the CSRF token, resolve who is asking, and in which language.
        # failed_attempts comes first so that it ends last, after the request's transaction (see there).
        dependencies=[
            Depends(failed_attempts, scope="function"),
            Depends(verify_csrf),
            Depends(load_principal),
            Depends(current_locale),
        ],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.database_turns = DatabaseTurns(engine)

    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )

    app.add_middleware(SecurityHeaders, csp=csp)
    app.add_middleware(GZipMiddleware, minimum_size=500)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        larger=[(r"/api/v1/rounds/\d+/imports", MAX_IMPORT_BODY)],
        timeout=settings.body_timeout_seconds,
        refuse=app_error,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="clusterscore_session",
        max_age=14 * 24 * 3600,
        same_site="lax",
        https_only=settings.environment == "production",
    )
    if settings.forwarded_allow_ips:
        # Outermost, so that everything inside sees the client the trusted proxy names.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)

    app.add_exception_handler(AppError, app_error)  # type: ignore[arg-type]

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if is_openrosa(request):
            return openrosa_error(request, _l("Some fields are not valid."), 400)
        if _wants_html(request) and any(err["loc"][0] == "path" for err in exc.errors()):
            # A page address whose id cannot exist (0, a word) names no page: the page a person can act on.
            return await app_error(request, NotFound("No such page."))
        detail = _l("Some fields are not valid.").localized(locale_of(request))
        return JSONResponse({"detail": detail, "errors": _readable_validation_errors(exc)}, status_code=422)

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> Response:
        # Two requests raced to create the same thing (a double tap, two workers): the loser retries.
        log.info("integrity error turned into 409: %s", exc.orig)
        detail = _l("This was changed at the same time by another request; please retry.")
        if is_openrosa(request):
            return openrosa_error(request, detail, 409)
        return JSONResponse({"detail": detail.localized(locale_of(request))}, status_code=409)

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def out_of_range(_request: Request, exc: Exception) -> JSONResponse:
        # A number in a body or query larger than its column takes (an id beyond 32 bits): PostgreSQL says
        # DataError, SQLite's driver OverflowError. Anything else is a bug and stays a 500.
        if isinstance(exc, OverflowError) and "SQLite INTEGER" not in str(exc):
            raise exc
        return JSONResponse({"detail": "A number is out of the range this service stores."}, status_code=422)

    api_routers = (
        access_api,
        scorecards_api,
        clusters_api,
        rounds_api,
        responses_api,
        scoring_api,
        benchmarks_api,
        interop_api,
        people_api,
    )
    # Routes are tried in this order on every request: the member's form (most requests by far) first, the JSON
    # API (used by scripts) last. No path of one router matches another's, so the order only saves the member's
    # requests a walk past the API's routes (docs/benchmarks.md).
    app.include_router(member_form_pages)
    app.include_router(home_pages)
    app.include_router(auth_pages)
    app.include_router(i18n_pages)
    app.include_router(benchmark_pages)
    app.include_router(openrosa_routes)
    app.include_router(facilitator_pages)
    app.include_router(apidocs.router)
    app.include_router(setup_pages)
    app.include_router(people_pages)
    for router in api_routers:
        app.include_router(router, prefix="/api/v1", responses=API_ERROR_RESPONSES)
    app.mount("/static/apidocs", CachedStaticFiles(directory=apidocs.FILES), name="apidocs")
    app.mount("/static", CachedStaticFiles(directory=ROOT / "static"), name="static")
    return app


app = create_app()
