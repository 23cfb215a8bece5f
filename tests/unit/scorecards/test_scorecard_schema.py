"""Rules of the template format that the rest of the app relies on."""

from typing import Any

import pytest
from pydantic import ValidationError

from app.scorecards.schema import CsfSpec, KpiSpec, RatingScale, TemplateSpec, Weights, localize


def _template(**overrides: Any) -> TemplateSpec:
    data: dict[str, Any] = {
        "key": "t",
        "version": "1",
        "title": {"en": "Template", "th": "แม่แบบ"},
        "languages": ["en", "th"],
        "perspectives": [
            {
                "key": "finance",
                "title": "Finance",
                "csfs": [
                    {
                        "key": "loans",
                        "title": {"en": "Access to loans", "th": "การเข้าถึงสินเชื่อ"},
                        "kpis": [
                            {"key": "npl", "title": "NPL", "type": "count", "direction": "decrease"},
                            {"key": "plans", "title": "Plans", "level": "member", "type": "yes_no", "question": "?"},
                        ],
                    }
                ],
            }
        ],
    }
    data.update(overrides)
    return TemplateSpec.model_validate(data)


def _error_messages(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [error["msg"] for error in exc.value.errors()]


def test_localize_prefers_the_language_then_the_fallback_then_anything() -> None:
    text = {"th": "สวัสดี", "es": "hola", "en": "hello"}
    assert localize(text, "es", "en") == "hola"
    assert localize(text, "de", "en") == "hello"
    assert localize({"es": "hola"}, "de", "en") == "hola"
    assert localize("plain", "th", "en") == "plain"
    assert localize(None, "th", "en") is None


def test_rating_question_is_generated_when_the_template_has_none() -> None:
    csf = CsfSpec(key="trust", title={"en": "Trust", "th": "ความไว้วางใจ"})
    assert csf.question("en", "en") == "How strongly is 'Trust' present in our cluster?"
    assert csf.question("th", "en") == "คลัสเตอร์ของเรามี “ความไว้วางใจ” มากน้อยเพียงใด"
    assert csf.question("de", "en") == "How strongly is 'Trust' present in our cluster?"
    own = CsfSpec(key="trust", title="Trust", rating_question={"en": "Do you trust each other?"})
    assert own.question("th", "en") == "Do you trust each other?"


@pytest.mark.parametrize(
    ("kpi_type", "expected"),
    [
        ("yes_no", "count_yes"),
        ("count", "sum"),
        ("number", "sum"),
        ("percent", "mean"),
        ("rating", "mean"),
        ("text", None),
    ],
)
def test_member_kpi_aggregate_defaults_to_what_fits_its_type(kpi_type: str, expected: str | None) -> None:
    kpi = KpiSpec(key="k", title="K", level="member", type=kpi_type, question="?")
    assert kpi.aggregate == expected


def test_cluster_kpi_has_no_aggregate() -> None:
    assert KpiSpec(key="k", title="K", type="count").aggregate is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "yes_no", "aggregate": "sum"}, "aggregate 'sum' does not apply to yes_no answers"),
        ({"type": "percent", "aggregate": "share_yes"}, "aggregate 'share_yes' needs a yes_no KPI"),
        ({"type": "text", "aggregate": "mean"}, "text answers are listed, never aggregated"),
        ({"type": "rating", "per_member": True}, "per_member only makes sense for counts"),
    ],
)
def test_member_kpi_combinations_that_cannot_be_scored_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        KpiSpec.model_validate({"key": "k", "title": "K", "level": "member", "question": "?", **fields})
    assert any(message in text for text in _error_messages(caught))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"baseline": 5, "target": 5}, "The target equals the baseline (5)"),
        ({"baseline": 5, "target": 3}, "The target (3) is below the baseline (5), but higher is better"),
        ({"direction": "decrease", "baseline": 3, "target": 5}, "The target (5) is above the baseline (3)"),
        ({"type": "percent", "target": 120}, "The target must lie between 0 and 100."),
        ({"type": "count", "baseline": -1}, "The baseline must lie between 0 and 1,000,000,000,000,000."),
        ({"type": "number", "target": 2e15}, "The target must lie between -1,000,000,000,000,000 and"),
        ({"type": "number", "min": 10, "max": 20, "baseline": 5}, "The baseline must lie between 10 and 20."),
        ({"type": "count", "min": -1}, "min -1 is outside what a count KPI allows (0..1e+15)"),
        ({"type": "percent", "max": 150}, "max 150 is outside what a percent KPI allows (0..100)"),
        ({"type": "number", "min": 5, "max": 5}, "max (5) must be greater than min (5)"),
        ({"type": "yes_no", "min": 0}, "min and max apply to count, number and percent KPIs only"),
        ({"asked_of": "firms"}, "'asked_of' is only allowed on member-level KPIs"),
        ({"weight": 0}, "greater than 0"),
        ({"weight": True}, "valid number"),
        ({"baseline": "5"}, "valid number"),
    ],
)
def test_kpi_numbers_must_make_scoring_possible(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        KpiSpec.model_validate({"key": "k", "title": "K", **fields})
    assert any(message in text for text in _error_messages(caught))


@pytest.mark.parametrize(
    ("goal", "message"),
    [
        ({"baseline": 0.1, "target": 0.6}, "a percentage (0 to 100), not a fraction: type 10 for 0.1."),
        ({"target": 0.6}, "type 60 for 0.6."),
        ({"baseline": 0, "target": 1}, "type 100 for 1."),
        ({"baseline": 10, "target": 160}, "The target must lie between 0 and 100."),
    ],
)
def test_a_share_of_yes_answers_is_a_percentage_not_a_fraction(goal: dict[str, float], message: str) -> None:
    fields = {"key": "k", "title": "K", "level": "member", "question": "?", "type": "yes_no", "aggregate": "share_yes"}
    with pytest.raises(ValidationError) as caught:
        KpiSpec.model_validate({**fields, **goal})
    assert any(message in text for text in _error_messages(caught))
    assert KpiSpec.model_validate({**fields, "baseline": 10, "target": 60}).target == 60


def test_a_narrowed_range_and_who_is_asked() -> None:
    kpi = KpiSpec(key="k", title="K", type="number", min=-50, max=500, baseline=-20, target=40)
    assert (kpi.min, kpi.max) == (-50, 500)
    asked = KpiSpec(key="k", title="K", level="member", question="?", type="yes_no", asked_of="firms")
    assert asked.asked_of == "firms"
    # A sum of answers may pass the largest single answer: its goals are bounded by the sum's range.
    summed = KpiSpec(key="k", title="K", level="member", question="?", type="count", max=10, target=300)
    assert summed.target == 300


def test_cluster_count_per_member_and_decreasing_targets_are_fine() -> None:
    kpi = KpiSpec(key="k", title="K", type="count", per_member=True, direction="decrease", baseline=10, target=4)
    assert (kpi.per_member, kpi.target) == (True, 4)


@pytest.mark.parametrize("unit", ["months", {"en": "months", "th": "เดือน"}])
def test_a_unit_is_text_or_text_per_language(unit: str | dict[str, str]) -> None:
    kpi = KpiSpec(key="k", title="K", type="count", unit=unit)
    assert localize(kpi.unit, "th", "en") == ("months" if isinstance(unit, str) else "เดือน")


@pytest.mark.parametrize("unit", ["x" * 41, {"en": "months", "th": "x" * 41}, {}, ""])
def test_a_unit_longer_than_40_characters_in_any_language_or_empty_is_refused(unit: str | dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        KpiSpec.model_validate({"key": "k", "title": "K", "unit": unit})


def test_rating_scale_bounds() -> None:
    assert RatingScale(min=0, max=10).max == 10
    for bad in ({"min": 3, "max": 3}, {"min": 0, "max": 11}, {"labels": {6: "Too high"}}):
        with pytest.raises(ValidationError):
            RatingScale.model_validate(bad)


def test_weights_cannot_both_be_zero() -> None:
    assert Weights(kpi=0, perception=100).kpi == 0
    with pytest.raises(ValidationError, match="cannot both be 0"):
        Weights(kpi=0, perception=0)


def test_lookups_and_iteration() -> None:
    spec = _template()
    assert [csf.key for _, csf in spec.iter_csfs()] == ["loans"]
    assert [kpi.key for _, _, kpi in spec.iter_kpis()] == ["npl", "plans"]
    assert [kpi.key for kpi in spec.member_kpis()] == ["plans"]
    csf, kpi = spec.csf("loans"), spec.kpi("plans")
    assert csf is not None and csf.key == "loans"
    assert kpi is not None and kpi.aggregate == "count_yes"
    assert spec.csf("nope") is None and spec.kpi("nope") is None
    assert spec.fallback_language == "en"


def test_missing_translations_lists_each_label_without_a_declared_language() -> None:
    assert _template().missing_translations() == [
        "perspectives[0].title: missing translation for th",
        "perspectives[0].csfs[0].kpis[0].title: missing translation for th",
        "perspectives[0].csfs[0].kpis[1].title: missing translation for th",
        "perspectives[0].csfs[0].kpis[1].question: missing translation for th",
    ]
    # Plain strings are fallback-language text, so a one-language template has nothing missing.
    assert _template(languages=["en"]).missing_translations() == []


def test_duplicate_keys_are_refused_by_the_model_too() -> None:
    spec = _template()
    data = spec.model_dump(mode="json")
    data["perspectives"][0]["csfs"][0]["kpis"][1]["key"] = "npl"
    with pytest.raises(ValidationError, match="duplicate KPI key 'npl'"):
        TemplateSpec.model_validate(data)


def test_specs_are_frozen() -> None:
    spec = _template()
    with pytest.raises(ValidationError):
        spec.key = "other"  # type: ignore[misc]
