"""Application factory: settings, database engine, routers and error handlers."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.clusters.routes import router as clusters_api
from app.config import Settings, get_settings
from app.db import make_engine
from app.errors import AppError
from app.responses.routes import router as responses_api
from app.rounds.routes import router as rounds_api
from app.scorecards import service as scorecard_service
from app.scorecards.routes import router as scorecards_api
from app.scoring.routes import router as scoring_api

log = logging.getLogger("clusterscore")


def _readable_validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """One plain message per field, e.g. {"field": "body.target", "message": "Input should be a valid number"}."""
    return [{"field": ".".join(str(part) for part in err["loc"]), "message": err["msg"]} for err in exc.errors()]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.load_scorecards_on_startup:
            with Session(engine, expire_on_commit=False) as session:
                loaded = scorecard_service.load_directory(session, settings.scorecards_dir)
                session.commit()
            for version in loaded:
                log.info("loaded scorecard template %s version %s", version.key, version.version)
        yield
        engine.dispose()

    app = FastAPI(
        title="ClusterScore",
        version="0.1.0",
        summary="Participatory monitoring and evaluation of cluster initiatives with balanced scorecards.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine

    @app.exception_handler(AppError)
    async def app_error(_request: Request, exc: AppError) -> JSONResponse:
        body: dict[str, object] = {"detail": exc.message}
        if exc.details is not None:
            body["errors"] = exc.details
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"detail": "Some fields are not valid.", "errors": _readable_validation_errors(exc)},
            status_code=422,
        )

    @app.exception_handler(IntegrityError)
    async def integrity_error(_request: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests raced to create the same thing (a double tap, two workers): the loser retries.
        log.info("integrity error turned into 409: %s", exc.orig)
        return JSONResponse(
            {"detail": "This was changed at the same time by another request; please retry."}, status_code=409
        )

    for router in (scorecards_api, clusters_api, rounds_api, responses_api, scoring_api):
        app.include_router(router, prefix="/api/v1")
    return app


app = create_app()
