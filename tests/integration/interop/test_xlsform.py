"""XLSForm export: Collect-ready (who answers, constraints the server's, instance name, version), accepted by
pyxform without warnings and by ODK Validate (the JavaRosa checker pyxform ships; needs Java)."""

import io
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pytest
from fastapi.testclient import TestClient
from pyxform.xls2xform import convert
from sqlmodel import Session

from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant
from app.clusters.schemas import KpiSettingsUpdate
from app.i18n.numbers import MACHINE
from app.interop import service
from app.interop.logic import (
    CONSTRAINTS,
    END_FIELD,
    FIRM_CHOSEN,
    RESPONDENT_FIELD,
    XlsForm,
    constraint_of,
    in_language,
    kpi_of_type,
    language_column,
    server_message,
)
from app.responses.logic import AnswerRejected, coerce_answer
from app.rounds.models import Round
from tests import factories

TEMPLATES = sorted(p.stem for p in (Path(__file__).parents[3] / "scorecards").glob("*.yaml"))
XF = "{http://www.w3.org/2002/xforms}"
H = "{http://www.w3.org/1999/xhtml}"


def _sheet(xlsx: bytes, name: str) -> list[dict[str, object]]:
    rows = list(openpyxl.load_workbook(io.BytesIO(xlsx))[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def _convert(form: XlsForm, *, validate: bool = False) -> ElementTree.Element:
    """pyxform's XForm; with validate, ODK Validate must accept it too (it raises otherwise)."""
    warnings: list[str] = []
    result = convert(xlsform=io.BytesIO(form.to_xlsx()), warnings=warnings, validate=validate, file_type=".xlsx")
    assert warnings == []
    return ElementTree.fromstring(result.xform)


def _binds(xform: ElementTree.Element) -> dict[str, ElementTree.Element]:
    return {b.get("nodeset", "").rsplit("/", 1)[-1]: b for b in xform.iter(f"{XF}bind")}


def _setting(session: Session, template_key: str = "thai-food-cluster") -> tuple[Cluster, Round, Participant]:
    cluster = factories.cluster(session, template_key=template_key)
    member = factories.participant(session, cluster, organisation="Mae Ploy Foods", person_name="Somchai")
    factories.participant(session, cluster, organisation="Chiang Mai Sauces", person_name="")
    return cluster, factories.open_round(session, cluster), member


@pytest.mark.parametrize("template_key", TEMPLATES)
def test_every_shipped_template_passes_pyxform_and_odk_validate(template_key: str, session: Session) -> None:
    cluster, round_, member = _setting(session, template_key)
    form = service.xlsform(session, cluster, round_)
    xform = _convert(form, validate=True)
    _convert(service.xlsform(session, cluster, round_, member=member), validate=True)

    scorecard = cluster_service.scorecard(session, cluster)
    member_kpis = [k for k in scorecard.kpis() if k.active and k.level == "member"]
    csfs = [c for p in scorecard.perspectives for c in p.csfs]
    assert member_kpis, template_key
    # Every question of the web form is asked, and every field maps back to its key.
    binds = _binds(xform)
    for kpi in member_kpis:
        name = form.fields.by_key[("kpi", kpi.key)]
        assert form.fields.lookup(name) == ("kpi", kpi.key)
        assert name in binds
    for csf in csfs:
        assert form.fields.by_key[("rating", csf.key)] in binds
        assert form.fields.by_key[("comment", csf.key)] in binds
    assert len(form.fields.by_name) == len(member_kpis) + 2 * len(csfs)

    # All the template's languages, as `label::Language (code)` columns.
    spec = cluster_service.template_spec(session, cluster)
    xlsx = form.to_xlsx()
    columns = set(_sheet(xlsx, "survey")[0])
    assert {c for c in columns if c.startswith("label::")} == {
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
        if kpi.unit and kpi.type != "yes_no":  # a yes/no answer has no unit; its share of yeses does
            for lang in spec.languages:
                unit = cluster_service.scorecard(session, cluster, lang=lang).kpi(kpi.key).unit  # type: ignore[union-attr]
                assert hints[(form.fields.by_key[("kpi", kpi.key)], f"hint::{language_column(lang)}")] == unit
    settings = _sheet(xlsx, "settings")[0]
    assert settings["form_id"] == f"clusterscore_c{cluster.id}_r{round_.id}"
    assert settings["default_language"] == language_column(spec.languages[0])


def test_constraints_and_their_messages_are_the_servers_in_every_language(session: Session) -> None:
    cluster, round_, _member = _setting(session, "scottish-enterprise-cluster")  # English and Spanish
    form = service.xlsform(session, cluster, round_)
    binds = _binds(_convert(form))
    survey = {row.get("name"): row for row in form.survey}
    scorecard = cluster_service.scorecard(session, cluster)
    checked = set()
    for kpi in scorecard.kpis():
        name = form.fields.by_key.get(("kpi", kpi.key))
        constraint = constraint_of(kpi)
        if name is None or constraint is None:
            continue
        checked.add(kpi.type)
        assert binds[name].get("constraint") == constraint.expression
        for lang in ("en", "es"):
            message = survey[name][f"constraint_message::{language_column(lang)}"]
            assert message == in_language(server_message(kpi, constraint), lang)
    assert checked >= {"percent", "count", "number"}
    # The Spanish message is the interface's Spanish, not English.
    percent = kpi_of_type("percent")
    percent_rule = constraint_of(percent)
    assert percent_rule is not None
    spanish, english = (in_language(server_message(percent, percent_rule), lang) for lang in ("es", "en"))
    assert spanish != english
    # Comments are bounded like the server's text answers.
    comment = form.fields.by_key[("comment", scorecard.perspectives[0].csfs[0].key)]
    assert binds[comment].get("constraint") == CONSTRAINTS["text"].expression


@pytest.mark.parametrize(
    ("kpi_type", "value", "holds"),
    [
        ("percent", -0.5, False),
        ("percent", 0, True),
        ("percent", 100, True),
        ("percent", 100.5, False),
        ("count", -1, False),
        ("count", 0, True),
        ("count", 12, True),
        ("count", 10**15, True),
        ("count", 10**15 + 1, False),
        ("number", -(10**15), True),
        ("number", -(10**15) - 1, False),
        ("number", 2.5, True),
    ],
)
def test_a_constraint_holds_exactly_where_the_server_accepts(kpi_type: str, value: float, holds: bool) -> None:
    kpi = kpi_of_type(kpi_type)
    constraint = constraint_of(kpi)
    assert constraint is not None
    # The XPath of our constraints uses only `.`, numbers, comparisons and `and`: the same in Python.
    expression = constraint.expression.replace(". ", f"{value!r} ")
    assert eval(expression) is holds
    try:
        coerce_answer(kpi, str(value), locale=MACHINE)
        accepted = True
    except AnswerRejected:
        accepted = False
    assert accepted is holds


def test_enumerator_form_asks_which_member_and_personal_form_prefills_it(session: Session) -> None:
    cluster, round_, member = _setting(session)
    inactive = factories.participant(session, cluster, organisation="Gone Ltd")
    cluster_service.deactivate_participant(session, inactive, actor="test")

    enumerator = service.xlsform(session, cluster, round_)
    xform = _convert(enumerator)
    bind = _binds(xform)[RESPONDENT_FIELD]
    assert bind.get("required") == "true()"
    select = next(e for e in xform.iter(f"{XF}select1") if e.get("ref", "").endswith(f"/{RESPONDENT_FIELD}"))
    assert select.get("appearance") == "autocomplete"
    choices = {row["name"]: row["label::English (en)"] for row in enumerator.choices if row["list_name"] == "members"}
    assert choices == {str(member.id): "Mae Ploy Foods (Somchai)", str(member.id + 1): "Chiang Mai Sauces"}
    assert enumerator.settings["instance_name"].startswith(f"concat(jr:choice-name(${{{RESPONDENT_FIELD}}}")

    personal = service.xlsform(session, cluster, round_, member=member)
    xform = _convert(personal)
    assert next(xform.iter(f"{XF}{RESPONDENT_FIELD}")).text == str(member.id)
    assert not any(e.get("ref", "").endswith(RESPONDENT_FIELD) for e in xform.iter() if e.tag != f"{XF}bind")
    assert personal.settings["instance_name"] == "'Mae Ploy Foods (Somchai) \u2013 2026 H1'"


def test_instance_name_with_both_kinds_of_quote_is_valid_xpath(session: Session) -> None:
    cluster = factories.cluster(session)
    member = factories.participant(session, cluster, organisation='Ma\'am "Best" Foods', person_name="")
    round_ = factories.open_round(session, cluster, label="Round 'one'")
    form = service.xlsform(session, cluster, round_, member=member)
    assert (
        form.settings["instance_name"]
        == "concat('Ma', \"'\", 'am \"Best\" Foods \u2013 Round ', \"'\", 'one', \"'\", '')"
    )
    _convert(form, validate=True)


def test_the_version_changes_with_the_scorecard_and_the_members_only(session: Session) -> None:
    cluster, round_, _member = _setting(session)
    before = service.xlsform(session, cluster, round_)
    assert service.xlsform(session, cluster, round_).settings["version"] == before.settings["version"]
    key = next(iter(k for kind, k in before.fields.by_key if kind == "kpi"))
    cluster_service.update_kpi_settings(session, cluster, key, KpiSettingsUpdate(active=False), actor="test")
    after = service.xlsform(session, cluster, round_)
    assert ("kpi", key) in before.fields.by_key and ("kpi", key) not in after.fields.by_key
    assert after.settings["version"] != before.settings["version"]
    factories.participant(session, cluster, organisation="Newcomer Co")
    assert service.xlsform(session, cluster, round_).settings["version"] != after.settings["version"]


def test_download_over_http_for_staff_who_manage_the_cluster(session: Session, admin_client: TestClient) -> None:
    cluster, round_, member = _setting(session)
    observer = factories.user(session, grants=(("observer", cluster),))
    observer_token = factories.api_token(session, observer)
    session.commit()
    reply = admin_client.get(f"/api/v1/rounds/{round_.id}/xlsform")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert {"survey", "choices", "settings"} <= set(openpyxl.load_workbook(io.BytesIO(reply.content)).sheetnames)
    assert any(row["list_name"] == "members" for row in _sheet(reply.content, "choices"))
    personal = admin_client.get(f"/api/v1/rounds/{round_.id}/xlsform", params={"participant_id": member.id})
    survey = _sheet(personal.content, "survey")
    assert survey[0]["type"] == "hidden" and survey[0]["default"] == str(member.id)
    other = factories.participant(session, factories.cluster(session))
    session.commit()
    assert (
        admin_client.get(f"/api/v1/rounds/{round_.id}/xlsform", params={"participant_id": other.id}).status_code == 404
    )
    # The enumerator form names the members: observers, who see no participants, do not get it.
    denied = admin_client.get(
        f"/api/v1/rounds/{round_.id}/xlsform", headers={"Authorization": f"Bearer {observer_token}"}
    )
    assert denied.status_code == 404


def test_a_cluster_without_participants_has_no_enumerator_form(session: Session, admin_client: TestClient) -> None:
    cluster = factories.cluster(session)
    round_ = factories.open_round(session, cluster)
    session.commit()
    reply = admin_client.get(f"/api/v1/rounds/{round_.id}/xlsform")
    assert reply.status_code == 409 and "no participants" in reply.json()["detail"]


def test_questions_for_firms_only_are_asked_of_firms(session: Session) -> None:
    """Associations and institutes were asked "Has your company ...?" and their yes counted per firm."""
    cluster, round_, firm = _setting(session)
    institute = factories.participant(session, cluster, organisation="Food Institute", organisation_type="research")
    firms_only = {k.key for k in cluster_service.scorecard(session, cluster).kpis() if k.asked_of == "firms"}
    assert firms_only
    theirs, its = (service.xlsform(session, cluster, round_, member=m) for m in (institute, firm))
    assert not any(("kpi", key) in theirs.fields.by_key for key in firms_only)
    assert all(("kpi", key) in its.fields.by_key for key in firms_only)
    _convert(theirs, validate=False)
    # The staff's form asks them, shown only when the member chosen is a firm (the members list says).
    enumerator = service.xlsform(session, cluster, round_)
    relevant = {row["name"]: row.get("relevant") for row in enumerator.survey if row.get("name")}
    for key in firms_only:
        assert relevant[enumerator.fields.by_key[("kpi", key)]] == FIRM_CHOSEN
    firm_of = {row["name"]: row["firm"] for row in enumerator.choices if row["list_name"] == "members"}
    assert firm_of == {str(firm.id): "yes", str(firm.id + 1): "yes", str(institute.id): "no"}
    binds = _binds(_convert(enumerator, validate=False))
    assert "/firm = 'yes'" in (binds[enumerator.fields.by_key[("kpi", sorted(firms_only)[0])]].get("relevant") or "")
    # When the form was finished, on the phone: an older edit does not overwrite a newer answer.
    assert END_FIELD in [row.get("name") for row in theirs.survey]
