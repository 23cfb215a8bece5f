"""XLSForm export: every shipped template converts with pyxform, without errors or warnings."""

import io
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pytest
from fastapi.testclient import TestClient
from pyxform.xls2xform import convert
from sqlmodel import Session

from app.clusters import service as cluster_service
from app.clusters.schemas import KpiSettingsUpdate
from app.interop import service
from app.interop.logic import language_column
from tests import factories

TEMPLATES = sorted(p.stem for p in (Path(__file__).parents[3] / "scorecards").glob("*.yaml"))
XF = "{http://www.w3.org/2002/xforms}"


def _sheet(xlsx: bytes, name: str) -> list[dict[str, object]]:
    rows = list(openpyxl.load_workbook(io.BytesIO(xlsx))[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.mark.parametrize("template_key", TEMPLATES)
def test_export_of_every_shipped_template_converts_without_warnings(template_key: str, session: Session) -> None:
    cluster = factories.cluster(session, template_key=template_key)
    round_ = factories.open_round(session, cluster)
    form = service.xlsform(session, cluster, round_)
    xlsx = form.to_xlsx()

    warnings: list[str] = []
    result = convert(xlsform=io.BytesIO(xlsx), warnings=warnings, file_type=".xlsx")
    assert warnings == []
    xform = ElementTree.fromstring(result.xform)

    scorecard = cluster_service.scorecard(session, cluster)
    member_kpis = [k for k in scorecard.kpis() if k.active and k.level == "member"]
    csfs = [c for p in scorecard.perspectives for c in p.csfs]
    assert member_kpis, template_key
    # Every question of the web form is asked, and every field maps back to its key.
    binds = {b.get("nodeset", "").rsplit("/", 1)[-1]: b for b in xform.iter(f"{XF}bind")}
    for kpi in member_kpis:
        name = form.fields.by_key[("kpi", kpi.key)]
        assert form.fields.lookup(name) == ("kpi", kpi.key)
        assert name in binds
        if kpi.type == "percent":
            assert binds[name].get("constraint") == ". >= 0 and . <= 100"
        if kpi.type == "count":
            assert binds[name].get("type") == "int" and binds[name].get("constraint") == ". >= 0"
    for csf in csfs:
        assert form.fields.by_key[("rating", csf.key)] in binds
        assert form.fields.by_key[("comment", csf.key)] in binds
    assert len(form.fields.by_name) == len(member_kpis) + 2 * len(csfs)

    # All the template's languages, as `label::Language (code)` columns.
    spec = cluster_service.template_spec(session, cluster)
    columns = set(_sheet(xlsx, "survey")[0])
    assert {f"label::{c.split('::')[1]}" for c in columns if c.startswith("label::")} == {
        f"label::{language_column(lang)}" for lang in spec.languages
    }
    # A unit is the question's hint, in each language the template gives it in.
    hints = {
        (row["name"], column): row[column]
        for row in _sheet(xlsx, "survey")
        for column in columns
        if column.startswith("hint::") and row[column]
    }
    for kpi in member_kpis:
        if kpi.unit:
            for lang in spec.languages:
                unit = cluster_service.scorecard(session, cluster, lang=lang).kpi(kpi.key).unit
                assert hints[(form.fields.by_key[("kpi", kpi.key)], f"hint::{language_column(lang)}")] == unit
    settings = _sheet(xlsx, "settings")[0]
    assert settings["form_id"] == f"clusterscore_c{cluster.id}_r{round_.id}"
    assert settings["default_language"] == language_column(spec.languages[0])


def test_inactive_kpis_are_not_asked_and_the_version_changes(session: Session) -> None:
    cluster = factories.cluster(session)
    round_ = factories.open_round(session, cluster)
    before = service.xlsform(session, cluster, round_)
    key = next(iter(k for kind, k in before.fields.by_key if kind == "kpi"))
    cluster_service.update_kpi_settings(session, cluster, key, KpiSettingsUpdate(active=False), actor="test")
    after = service.xlsform(session, cluster, round_)
    assert ("kpi", key) in before.fields.by_key and ("kpi", key) not in after.fields.by_key
    assert after.settings["version"] != before.settings["version"]


def test_download_over_http(session: Session, admin_client: TestClient) -> None:
    cluster = factories.cluster(session)
    round_ = factories.open_round(session, cluster)
    session.commit()
    reply = admin_client.get(f"/api/v1/rounds/{round_.id}/xlsform")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert {"survey", "choices", "settings"} <= set(openpyxl.load_workbook(io.BytesIO(reply.content)).sheetnames)
