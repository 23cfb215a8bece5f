"""Benchmark pages, exports and the JSON API. Thin: authorise, call the service, render."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from app.auth.policy import (
    PrincipalDep,
    benchmark_named_programmes,
    cluster_capabilities,
    cluster_for,
    require_admin,
    require_benchmark_agency,
)
from app.benchmarks import charts, service
from app.benchmarks.logic import DIMENSIONS
from app.benchmarks.schemas import Distribution, Heatmap, Observatory, Profile
from app.clusters import service as cluster_service
from app.clusters.models import Cluster
from app.clusters.schemas import ClusterUpdate
from app.deps import SessionDep, SettingsDep
from app.errors import NotFound
from app.i18n.routes import locale_of
from app.web import redirect_after_post, render

api = APIRouter(prefix="/benchmarks", tags=["benchmarks"])
pages = APIRouter(prefix="/benchmarks", include_in_schema=False)

Same = Annotated[list[str], Query(description=f"Peer group: clusters the same as this one in {', '.join(DIMENSIONS)}")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _filters(request: Request) -> dict[str, str]:
    return {d: request.query_params.get(d, "") for d in DIMENSIONS}


def _default_template(session: SessionDep, principal: PrincipalDep, template: str | None) -> str:
    return template or service.default_template(session, principal)


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- JSON API ---------------------------------------------------------------------------


@api.get("/heatmap", response_model=Heatmap)
def heatmap_api(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    template: str | None = None,
    period: str | None = None,
) -> Any:
    """Agency staff: their programmes' sharing clusters by name x overall and CSF core scores.
    Filter with programme, sector, country, region, typology, stage."""
    require_benchmark_agency(principal)
    return service.heatmap(
        session,
        principal,
        template_key=_default_template(session, principal, template),
        period=period,
        filters=_filters(request),
    )


@api.get("/distribution", response_model=Distribution)
def distribution_api(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    template: str | None = None,
    measure: str = "overall",
    period: str | None = None,
) -> Any:
    require_benchmark_agency(principal)
    return service.distribution(
        session,
        principal,
        template_key=_default_template(session, principal, template),
        measure=measure,
        period=period,
        filters=_filters(request),
    )


@api.get("/clusters/{cluster_id}", response_model=Profile)
def profile_api(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    same: Same = [],  # noqa: B006  (FastAPI copies defaults)
    period: str | None = None,
    trend: str = "overall",
    cluster: Cluster = cluster_for("results"),
) -> Any:
    """One cluster against its peer group; peers appear as aggregates unless the caller is agency
    staff of the cluster's programme."""
    return service.profile(
        session,
        principal,
        cluster,
        dimensions=same,
        period=period,
        trend_measure=trend,
        min_group=settings.benchmark_min_group,
    )


@api.get("/observatory", response_model=Observatory)
def observatory_api(session: SessionDep, principal: PrincipalDep, template: str | None = None) -> Any:
    require_benchmark_agency(principal)
    return service.observatory(session, principal, template_key=_default_template(session, principal, template))


# --- pages ------------------------------------------------------------------------------


@pages.get("", response_class=HTMLResponse)
def heatmap_page(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    template: str | None = None,
    period: str | None = None,
) -> HTMLResponse:
    require_benchmark_agency(principal)
    key = _default_template(session, principal, template)
    data = service.heatmap(
        session, principal, template_key=key, period=period, filters=_filters(request), lang=locale_of(request)
    )
    context = {"data": data, "template_keys": service.template_keys(session), "query": request.url.query}
    return render(request, "benchmarks/heatmap.html", context, block="results")


@pages.get("/heatmap.csv")
@pages.get("/heatmap.xlsx")
def heatmap_export(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    template: str | None = None,
    period: str | None = None,
) -> Response:
    require_benchmark_agency(principal)
    data = service.heatmap(
        session,
        principal,
        template_key=_default_template(session, principal, template),
        period=period,
        filters=_filters(request),
        lang=locale_of(request),
    )
    header, rows = service.table_of_heatmap(data, lang=locale_of(request))
    return _export(_suffix(request), f"heatmap-{data.template_key}-{data.period}", header, rows)


@pages.get("/distribution", response_class=HTMLResponse)
def distribution_page(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    template: str | None = None,
    measure: str = "overall",
    period: str | None = None,
) -> HTMLResponse:
    require_benchmark_agency(principal)
    key = _default_template(session, principal, template)
    data = service.distribution(
        session,
        principal,
        template_key=key,
        measure=measure,
        period=period,
        filters=_filters(request),
        lang=locale_of(request),
    )
    context = {"data": data, "template_keys": service.template_keys(session), "query": request.url.query}
    return render(request, "benchmarks/distribution.html", context, block="results")


@pages.get("/distribution.csv")
@pages.get("/distribution.xlsx")
def distribution_export(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    template: str | None = None,
    measure: str = "overall",
    period: str | None = None,
) -> Response:
    require_benchmark_agency(principal)
    data = service.distribution(
        session,
        principal,
        template_key=_default_template(session, principal, template),
        measure=measure,
        period=period,
        filters=_filters(request),
        lang=locale_of(request),
    )
    header, rows = service.table_of_distribution(data)
    return _export(
        _suffix(request),
        f"distribution-{data.template_key}-{data.measure.key.replace(':', '-')}-{data.period}",
        header,
        rows,
    )


def _profile(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep, cluster: Cluster, request: Request
) -> Profile:
    return service.profile(
        session,
        principal,
        cluster,
        dimensions=request.query_params.getlist("same"),
        period=request.query_params.get("period"),
        trend_measure=request.query_params.get("trend", "overall"),
        min_group=settings.benchmark_min_group,
        lang=locale_of(request),
    )


@pages.get("/clusters/{cluster_id}", response_class=HTMLResponse)
def profile_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    cluster: Cluster = cluster_for("results"),
) -> HTMLResponse:
    data = _profile(session, settings, principal, cluster, request)
    context = {
        "data": data,
        "cluster": cluster,
        "dimensions": DIMENSIONS,
        "query": request.url.query,
        "may_manage": "manage" in cluster_capabilities(principal, cluster),
        "agency": benchmark_named_programmes(principal) != set(),
    }
    return render(request, "benchmarks/profile.html", context, block="results")


@pages.get("/clusters/{cluster_id}/radar.svg")
def profile_radar(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    cluster: Cluster = cluster_for("results"),
) -> Response:
    svg = charts.radar(_profile(session, settings, principal, cluster, request))
    # pygal styles its chart with an inline <style>; this document runs no script and loads nothing.
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


@pages.get("/clusters/{cluster_id}/profile.{fmt}")
def profile_export(
    request: Request,
    fmt: str,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    cluster: Cluster = cluster_for("results"),
) -> Response:
    data = _profile(session, settings, principal, cluster, request)
    header, rows = service.table_of_profile(data)
    return _export(fmt, f"benchmark-cluster-{cluster.id}-{data.period}", header, rows)


@pages.post("/clusters/{cluster_id}/sharing")
def set_sharing(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    shares: Annotated[bool, Form()] = False,
    cluster: Cluster = cluster_for("manage"),
) -> Response:
    """The facilitator's consent switch; clusters.service.update_cluster records it in the audit trail."""
    cluster_service.update_cluster(session, cluster, ClusterUpdate(shares_benchmarks=shares), actor=principal.actor)
    return redirect_after_post(f"/benchmarks/clusters/{cluster.id}", request)


@pages.get("/observatory", response_class=HTMLResponse)
def observatory_page(
    request: Request, session: SessionDep, principal: PrincipalDep, template: str | None = None
) -> HTMLResponse:
    require_benchmark_agency(principal)
    data = service.observatory(session, principal, template_key=_default_template(session, principal, template))
    context = {
        "data": data,
        "is_admin": benchmark_named_programmes(principal) is None,
        "written": request.query_params.get("written"),
    }
    return render(request, "benchmarks/observatory.html", context, block="results")


@pages.get("/observatory/promote.yaml")
def promote_download(
    session: SessionDep,
    principal: PrincipalDep,
    template: str | None = None,
    kpi: Annotated[list[int], Query()] = [],  # noqa: B006
) -> Response:
    require_benchmark_agency(principal)
    spec, text = service.promoted_template(
        session, principal, template_key=_default_template(session, principal, template), kpi_ids=kpi
    )
    return _download(text.encode("utf-8"), "application/yaml", f"{spec.key}-v{spec.version}.yaml")


@pages.post("/observatory/promote")
def promote(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    template: Annotated[str, Form()] = "",
    kpi: Annotated[list[int], Form()] = [],  # noqa: B006
    action: Annotated[str, Form()] = "download",
) -> Response:
    """Download the promoted template version; administrators may also write it into the server's
    scorecards directory, where it is loaded at once."""
    require_benchmark_agency(principal)
    if action == "write":
        require_admin(principal)
    spec, text = service.promoted_template(
        session, principal, template_key=_default_template(session, principal, template), kpi_ids=kpi
    )
    if action != "write":
        return _download(text.encode("utf-8"), "application/yaml", f"{spec.key}-v{spec.version}.yaml")
    name = service.write_promoted(session, spec=spec, text=text, directory=settings.scorecards_dir)
    return RedirectResponse(f"/benchmarks/observatory?template={spec.key}&written={name}", status_code=303)


def _suffix(request: Request) -> str:
    return request.url.path.rsplit(".", 1)[-1]


def _export(fmt: str, stem: str, header: list[str], rows: list[list[Any]]) -> Response:
    if fmt == "csv":
        return _download(service.csv_bytes(header, rows), "text/csv; charset=utf-8", f"{stem}.csv")
    if fmt == "xlsx":
        return _download(service.xlsx_bytes(stem, header, rows), XLSX, f"{stem}.xlsx")
    raise NotFound("Exports are available as .csv and .xlsx.")
