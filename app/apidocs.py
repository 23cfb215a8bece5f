"""Swagger UI (/docs) and ReDoc (/redoc) from files the app serves itself, so they work without internet.

The files come from the PyPI package fastapi-offline; the pages are ours rather than FastAPI's, whose pages
start Swagger UI with an inline script that the content security policy refuses.
"""

from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.web import templates

FILES = Path(str(files("fastapi_offline") / "static"))
# The package's version in the URL: the files can be cached for a year and still change with the package.
_VERSION = version("fastapi-offline")
# Both bundles set styles through <style> elements they create (ReDoc also searches in a blob: worker), so
# these two pages, which show only the API's own description, allow inline styles; scripts stay 'self' only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "worker-src 'self' blob:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

router = APIRouter(include_in_schema=False)


def _asset(name: str) -> str:
    return f"/static/apidocs/{name}?v={_VERSION}"


def _page(request: Request, template: str) -> HTMLResponse:
    context = {"openapi_url": request.app.openapi_url, "asset": _asset}
    response = templates.TemplateResponse(request, template, context)
    assert isinstance(response, HTMLResponse)
    response.headers["Content-Security-Policy"] = CSP
    return response


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    return _page(request, "apidocs/swagger.html")


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    return _page(request, "apidocs/redoc.html")
