"""Benchmark pages, exports and the JSON API. Thin: authorise, call the service, render."""

import base64
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from starlette.responses import Response

from app.auth.deps import PrincipalDep
from app.auth.policy import (
    benchmark_named_programmes,
    cluster_capabilities,
    require_admin,
    require_benchmark_agency,
)
from app.benchmarks import charts, logic, service
from app.benchmarks.logic import DIMENSIONS
from app.benchmarks.schemas import ChangeRanking, Distribution, Heatmap, Observatory, Profile, Trend
from app.clusters import service as cluster_service
from app.clusters.deps import cluster_for
from app.clusters.models import Cluster
from app.clusters.schemas import ClusterUpdate
from app.deps import SessionDep, SettingsDep
from app.errors import NotFound
from app.i18n.routes import locale_of
from app.reports import pdf
from app.timeutil import utcnow
from app.web import redirect_after_post, render, templates

api = APIRouter(prefix="/benchmarks", tags=["benchmarks"])
pages = APIRouter(prefix="/benchmarks", include_in_schema=False)

Same = Annotated[list[str], Query(description=f"Peer group: clusters the same as this one in {', '.join(DIMENSIONS)}")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
templates.env.filters["band_label"] = service.band_label


def _filters(request: Request) -> dict[str, str]:
    return {d: request.query_params.get(d, "") for d in DIMENSIONS}


def _default_template(session: SessionDep, principal: PrincipalDep, template: str | None) -> str:
    return template or service.default_template(session, principal)


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- what each view's address asks for: one dependency per view serves its API, page and export routes -----------
# (the filters programme, sector, country, region, typology and stage are read from the address as they come)


@dataclass(frozen=True)
class HeatmapQuery:
    template: str | None
    period: str | None
    columns: str
    sort: str
    descending: bool
    page: int
    per_page: int
    filters: dict[str, str]


def heatmap_query(
    request: Request,
    template: str | None = None,
    period: str | None = None,
    columns: Annotated[str, Query(description="perspective, csf (the default) or kpi")] = "csf",
    sort: Annotated[str, Query(description="A column's measure key, or `cluster` (by name)")] = "cluster",
    order: Annotated[str, Query(description="asc or desc")] = "asc",
    page: Annotated[int, Query(ge=1, description="From 1; past the last page, the last page")] = 1,
    per_page: Annotated[int, Query(ge=1, le=1000, description="Rows per page (exports give every row)")] = (
        service.HEATMAP_PAGE
    ),
) -> HeatmapQuery:
    return HeatmapQuery(template, period, columns, sort, order == "desc", page, per_page, _filters(request))


@dataclass(frozen=True)
class DistributionQuery:
    template: str | None
    measure: str
    period: str | None
    filters: dict[str, str]


def distribution_query(
    request: Request, template: str | None = None, measure: str = "overall", period: str | None = None
) -> DistributionQuery:
    return DistributionQuery(template, measure, period, _filters(request))


# Rows of the distribution page's table (the chart and the exports have every cluster).
TABLE_ROWS = 50


@dataclass(frozen=True)
class ChangesQuery:
    template: str | None
    measure: str
    since: str | None
    period: str | None
    filters: dict[str, str]


def changes_query(
    request: Request,
    template: str | None = None,
    measure: str = "overall",
    since: str | None = None,
    period: str | None = None,
) -> ChangesQuery:
    return ChangesQuery(template, measure, since, period, _filters(request))


@dataclass(frozen=True)
class ProfileQuery:
    same: list[str]
    period: str | None
    trend: str
    since: str | None


def profile_query(
    same: Same = [],  # noqa: B006  (FastAPI copies defaults)
    period: str | None = None,
    trend: str = "overall",
    since: Annotated[str | None, Query(description="An earlier period: each measure's change since then")] = None,
) -> ProfileQuery:
    return ProfileQuery(same, period, trend, since)


HeatmapQueryDep = Annotated[HeatmapQuery, Depends(heatmap_query)]
DistributionQueryDep = Annotated[DistributionQuery, Depends(distribution_query)]
ChangesQueryDep = Annotated[ChangesQuery, Depends(changes_query)]
ProfileQueryDep = Annotated[ProfileQuery, Depends(profile_query)]


def _heatmap(
    session: SessionDep, principal: PrincipalDep, query: HeatmapQuery, *, lang: str | None, paged: bool = True
) -> Heatmap:
    require_benchmark_agency(principal)
    return service.heatmap(
        session,
        principal,
        template_key=_default_template(session, principal, query.template),
        period=query.period,
        filters=query.filters,
        columns=query.columns,
        sort=query.sort,
        descending=query.descending,
        page=query.page,
        per_page=query.per_page if paged else None,
        lang=lang,
    )


def _distribution(
    session: SessionDep, principal: PrincipalDep, query: DistributionQuery, *, lang: str | None
) -> Distribution:
    require_benchmark_agency(principal)
    return service.distribution(
        session,
        principal,
        template_key=_default_template(session, principal, query.template),
        measure=query.measure,
        period=query.period,
        filters=query.filters,
        lang=lang,
    )


def _changes(session: SessionDep, principal: PrincipalDep, query: ChangesQuery, *, lang: str | None) -> ChangeRanking:
    require_benchmark_agency(principal)
    return service.changes(
        session,
        principal,
        template_key=_default_template(session, principal, query.template),
        measure=query.measure,
        since=query.since,
        period=query.period,
        filters=query.filters,
        lang=lang,
    )


def _profile(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    cluster: Cluster,
    query: ProfileQuery,
    *,
    lang: str | None,
) -> Profile:
    return service.profile(
        session,
        principal,
        cluster,
        dimensions=query.same,
        period=query.period,
        trend_measure=query.trend,
        since=query.since,
        min_group=settings.benchmark_min_group,
        lang=lang,
    )


# --- JSON API ---------------------------------------------------------------------------


@api.get("/heatmap", response_model=Heatmap)
def heatmap_api(session: SessionDep, principal: PrincipalDep, query: HeatmapQueryDep) -> Any:
    """Agency staff: their programmes' sharing clusters by name x the overall and perspective or CSF core scores,
    or x the template's KPI values. Filter with programme, sector, country, region, typology, stage."""
    return _heatmap(session, principal, query, lang=None)


@api.get("/distribution", response_model=Distribution)
def distribution_api(session: SessionDep, principal: PrincipalDep, query: DistributionQueryDep) -> Any:
    return _distribution(session, principal, query, lang=None)


@api.get("/changes", response_model=ChangeRanking)
def changes_api(session: SessionDep, principal: PrincipalDep, query: ChangesQueryDep) -> Any:
    """Agency staff: their programmes' sharing clusters ranked by the change of one measure between two periods,
    with the peers' median change. Filter with programme, sector, country, region, typology, stage."""
    return _changes(session, principal, query, lang=None)


@api.get("/clusters/{cluster_id}", response_model=Profile)
def profile_api(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    query: ProfileQueryDep,
    cluster: Cluster = cluster_for("results"),
) -> Any:
    """One cluster against its peer group; peers appear as aggregates unless the caller is agency
    staff of the cluster's programme. Changes since an earlier period follow the same rules as levels."""
    return _profile(session, settings, principal, cluster, query, lang=None)


@api.get("/clusters/{cluster_id}/trend", response_model=Trend)
def trend_api(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    same: Same = [],  # noqa: B006
    measure: str = "overall",
    cluster: Cluster = cluster_for("results"),
) -> Any:
    """One measure of the cluster over every period with its peer group's quartiles (the interquartile band)."""
    return service.trend(
        session, principal, cluster, measure=measure, dimensions=same, min_group=settings.benchmark_min_group
    )


@api.get("/observatory", response_model=Observatory)
def observatory_api(session: SessionDep, principal: PrincipalDep, template: str | None = None) -> Any:
    require_benchmark_agency(principal)
    return service.observatory(session, principal, template_key=_default_template(session, principal, template))


# --- pages ------------------------------------------------------------------------------


@pages.get("", response_class=HTMLResponse)
def heatmap_page(
    request: Request, session: SessionDep, principal: PrincipalDep, query: HeatmapQueryDep
) -> HTMLResponse:
    data = _heatmap(session, principal, query, lang=locale_of(request))
    pager = logic.Page.of(data.total, data.page, data.per_page)
    context = {
        "data": data,
        "shades": charts.heat_shades(data),
        "sort_links": _sort_links(request, data),
        "pager": pager,
        "page_links": _page_links(request, pager),
        "query": request.url.query,
        **_filter_choices(session, data.options),
    }
    return render(request, "benchmarks/heatmap.html", context, block="results")


def _filter_choices(session: SessionDep, options: dict[str, list[str]]) -> dict[str, Any]:
    """What the filters of the agency views offer beyond the view's own options: the templates by title, and the
    programmes by name (the filters' values are the template keys and programme ids the API takes)."""
    return {
        "template_titles": service.template_titles(session),
        "programme_names": service.programme_names(session, options.get("programme", [])),
    }


def _sort_links(request: Request, data: Heatmap) -> list[tuple[str, str, str]]:
    """Per column (key, title, address): sorting by it, names A-Z and figures largest first, or the other way
    round when the rows are already sorted by it."""
    links = []
    first_page = request.url.remove_query_params("page")  # rows sorted anew start on their first page
    for key, title in [("cluster", ""), *((m.key, m.title) for m in data.measures)]:
        first = "asc" if key == "cluster" else "desc"
        order = ("asc" if data.descending else "desc") if key == data.sort else first
        links.append((key, title, "?" + first_page.include_query_params(sort=key, order=order).query))
    return links


def _page_links(request: Request, pager: logic.Page) -> dict[str, str]:
    """The addresses of the previous and next pages, where there are such pages."""
    links = {}
    if pager.number > 1:
        links["previous"] = "?" + request.url.include_query_params(page=pager.number - 1).query
    if pager.number < pager.pages:
        links["next"] = "?" + request.url.include_query_params(page=pager.number + 1).query
    return links


@pages.get("/heatmap.csv")
@pages.get("/heatmap.xlsx")
@pages.get("/heatmap.json")
def heatmap_export(request: Request, session: SessionDep, principal: PrincipalDep, query: HeatmapQueryDep) -> Response:
    data = _heatmap(session, principal, query, lang=locale_of(request), paged=False)
    header, rows = service.table_of_heatmap(data, lang=locale_of(request))
    return _export(_suffix(request), f"heatmap-{data.template_key}-{data.columns}-{data.period}", header, rows, data)


@pages.get("/distribution", response_class=HTMLResponse)
def distribution_page(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    query: DistributionQueryDep,
    page: Annotated[int | None, Query(ge=1, description="Of the table; by default the marked cluster's")] = None,
    per_page: Annotated[int, Query(ge=1, le=1000, description="Rows of the table")] = TABLE_ROWS,
) -> HTMLResponse:
    data = _distribution(session, principal, query, lang=locale_of(request))
    asked = request.query_params.get("cluster", "")
    marked = int(asked) if asked.isdigit() else None
    # Without a page asked for, the table opens on the marked cluster's row.
    index = next((i for i, p in enumerate(data.points) if p.cluster_id == marked), 0)
    pager = logic.Page.of(len(data.points), page or index // per_page + 1, per_page)
    context = {
        "data": data,
        "chart": charts.distribution_of(data, marked=marked),
        "pager": pager,
        "page_links": _page_links(request, pager),
        "query": request.url.query,
        **_filter_choices(session, {}),
    }
    return render(request, "benchmarks/distribution.html", context, block="results")


@pages.get("/distribution.csv")
@pages.get("/distribution.xlsx")
@pages.get("/distribution.json")
def distribution_export(
    request: Request, session: SessionDep, principal: PrincipalDep, query: DistributionQueryDep
) -> Response:
    data = _distribution(session, principal, query, lang=locale_of(request))
    header, rows = service.table_of_distribution(data)
    return _export(
        _suffix(request),
        f"distribution-{data.template_key}-{data.measure.key.replace(':', '-')}-{data.period}",
        header,
        rows,
        data,
    )


@pages.get("/changes", response_class=HTMLResponse)
def changes_page(
    request: Request, session: SessionDep, principal: PrincipalDep, query: ChangesQueryDep
) -> HTMLResponse:
    data = _changes(session, principal, query, lang=locale_of(request))
    context = {"data": data, "query": request.url.query, **_filter_choices(session, data.options)}
    return render(request, "benchmarks/changes.html", context, block="results")


@pages.get("/changes.csv")
@pages.get("/changes.xlsx")
@pages.get("/changes.json")
def changes_export(request: Request, session: SessionDep, principal: PrincipalDep, query: ChangesQueryDep) -> Response:
    data = _changes(session, principal, query, lang=locale_of(request))
    header, rows = service.table_of_changes(data, lang=locale_of(request))
    stem = f"changes-{data.template_key}-{data.measure.key.replace(':', '-')}-{data.since}-{data.period}"
    return _export(_suffix(request), stem, header, rows, data)


@pages.get("/clusters/{cluster_id}", response_class=HTMLResponse)
def profile_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    query: ProfileQueryDep,
    cluster: Cluster = cluster_for("results"),
) -> HTMLResponse:
    data = _profile(session, settings, principal, cluster, query, lang=locale_of(request))
    context = _profile_context(request, principal, cluster, data)
    return render(request, "benchmarks/profile.html", context, block="results")


def _profile_context(request: Request, principal: PrincipalDep, cluster: Cluster, data: Profile) -> dict[str, Any]:
    return {
        "radar_src": f"/benchmarks/clusters/{cluster.id}/radar.svg?{request.url.query}",
        "today": utcnow().date(),
        "data": data,
        "cluster": cluster,
        "dimensions": DIMENSIONS,
        "query": request.url.query,
        "may_manage": "manage" in cluster_capabilities(principal, cluster),
        "agency": benchmark_named_programmes(principal) != set(),
        "trend_chart": charts.trend_chart(data.trend, score=not data.trend_measure.startswith("kpi:")),
        "trend_title": next((m.measure.title for m in data.measures if m.measure.key == data.trend_measure), ""),
        "position_chart": charts.position_chart([m for m in data.measures if m.measure.kind != "kpi"]),
    }


@pages.get("/clusters/{cluster_id}/print", response_class=HTMLResponse)
def profile_print(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    query: ProfileQueryDep,
    cluster: Cluster = cluster_for("results"),
) -> HTMLResponse:
    """The comparison on paper, for whoever may see it on screen: the benchmark report."""
    context = _print_context(request, session, settings, principal, cluster, query)
    return render(request, "benchmarks/print.html", context)


@pages.get("/clusters/{cluster_id}/report.pdf")
def profile_report(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    query: ProfileQueryDep,
    cluster: Cluster = cluster_for("results"),
) -> Response:
    """The print view as a PDF, in the reader's language."""
    context = _print_context(request, session, settings, principal, cluster, query)
    filename = f"benchmark-report-{cluster.id}-{context['data'].period or 'none'}.pdf"
    return pdf.pdf_response(request, "benchmarks/print.html", context, filename=filename)


def _print_context(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    cluster: Cluster,
    query: ProfileQuery,
) -> dict[str, Any]:
    lang = locale_of(request)
    data = _profile(session, settings, principal, cluster, query, lang=lang)
    # Inline, so the report is one self-contained document (WeasyPrint fetches nothing over HTTP).
    radar = "data:image/svg+xml;base64," + base64.b64encode(charts.radar(data, lang=lang)).decode()
    return {**_profile_context(request, principal, cluster, data), "radar_src": radar}


@pages.get("/clusters/{cluster_id}/radar.svg")
def profile_radar(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    query: ProfileQueryDep,
    cluster: Cluster = cluster_for("results"),
) -> Response:
    lang = locale_of(request)
    svg = charts.radar(_profile(session, settings, principal, cluster, query, lang=lang), lang=lang)
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
    query: ProfileQueryDep,
    cluster: Cluster = cluster_for("results"),
) -> Response:
    data = _profile(session, settings, principal, cluster, query, lang=locale_of(request))
    header, rows = service.table_of_profile(data)
    return _export(fmt, f"benchmark-cluster-{cluster.id}-{data.period}", header, rows, data)


@pages.get("/clusters/{cluster_id}/trend.{fmt}")
def trend_export(
    request: Request,
    fmt: str,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    query: ProfileQueryDep,
    cluster: Cluster = cluster_for("results"),
) -> Response:
    """The trend of the profile page's measure (its `trend`), as the page shows it."""
    data = service.trend(
        session,
        principal,
        cluster,
        measure=query.trend,
        dimensions=query.same,
        min_group=settings.benchmark_min_group,
        lang=locale_of(request),
    )
    header, rows = service.table_of_trend(data)
    return _export(fmt, f"benchmark-trend-{cluster.id}-{data.measure.key.replace(':', '-')}", header, rows, data)


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
        "template_titles": service.template_titles(session),
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


def _export(fmt: str, stem: str, header: list[str], rows: list[list[Any]], data: BaseModel) -> Response:
    """The view as CSV or XLSX (its table) or JSON (the view itself, as the API gives it)."""
    if fmt == "csv":
        return _download(service.csv_bytes(header, rows), "text/csv; charset=utf-8", f"{stem}.csv")
    if fmt == "xlsx":
        return _download(service.xlsx_bytes(stem, header, rows), XLSX, f"{stem}.xlsx")
    if fmt == "json":
        return _download(data.model_dump_json(indent=1).encode(), "application/json", f"{stem}.json")
    raise NotFound("Exports are available as .csv, .xlsx and .json.")
