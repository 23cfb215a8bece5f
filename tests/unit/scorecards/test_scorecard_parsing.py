"""Template authors edit YAML by hand: every mistake must come back with file, line, path and plain words."""

from pathlib import Path

import pytest

from app.scorecards.parsing import (
    MAX_REPORTED_PROBLEMS,
    MAX_TEMPLATE_BYTES,
    Problem,
    TemplateInvalid,
    content_hash,
    load_template_file,
    parse_template,
    template_json_schema,
    validate_paths,
)

HERE = Path(__file__).resolve().parent
BROKEN = HERE / "broken"
THAI = HERE.parents[2] / "scorecards" / "thai-food-cluster.yaml"
KPI = "perspectives[0].csfs[0].kpis[0]"

# (file, line, path, part of the message)
BROKEN_CASES = [
    ("unknown_field.yaml", 17, f"{KPI}.agregate", "unknown field 'agregate'; did you mean 'aggregate'?"),
    ("missing_title.yaml", 9, "perspectives[0].csfs[0].title", "missing required field 'title'"),
    (
        "duplicate_kpi_key.yaml",
        22,
        "perspectives[1].csfs[0].kpis[0].key",
        "duplicate KPI key 'npl' (already used at perspectives[0].csfs[0].kpis[0])",
    ),
    (
        "duplicate_csf_key.yaml",
        13,
        "perspectives[1].csfs[0].key",
        "duplicate CSF key 'leadership' (already used at perspectives[0].csfs[0])",
    ),
    (
        "duplicate_yaml_key.yaml",
        11,
        "perspectives[0].csfs[0].title",
        "duplicate key 'title' (first at line 10); YAML would silently keep only the last one",
    ),
    ("wrong_type.yaml", 7, "perspectives[0].weight", "expected a number, got the text 'heavy'"),
    ("title_as_list.yaml", 6, "perspectives[0].title", "got a list"),
    ("bad_enum.yaml", 14, f"{KPI}.direction", "'down' is not allowed here; use one of: 'increase', 'decrease'"),
    ("bad_key_slug.yaml", 5, "perspectives[0].key", "'Finance Perspective' is not a valid key"),
    ("aggregate_on_cluster_kpi.yaml", 14, f"{KPI}.aggregate", "'aggregate' is only allowed on member-level KPIs"),
    ("member_kpi_without_question.yaml", 11, f"{KPI}.question", "member-level KPIs need a 'question'"),
    ("count_yes_on_number.yaml", 16, f"{KPI}.aggregate", "aggregate 'count_yes' needs a yes_no KPI"),
    ("per_member_on_percent.yaml", 17, f"{KPI}.per_member", "per_member only makes sense for counts"),
    (
        "target_against_direction.yaml",
        16,
        f"{KPI}.target",
        "The target (60) is above the baseline (40), but lower is better for this indicator",
    ),
    ("thresholds_reversed.yaml", 6, "thresholds.amber", "amber (70) must not be above green (40)"),
    ("rating_label_outside_scale.yaml", 7, "rating_scale.labels", "outside the scale 1..5: 7"),
    (
        "syntax_error.yaml",
        7,
        "",
        "YAML syntax error: expected ',' or ']', but got ':' (while parsing a flow sequence at line 6)",
    ),
    ("empty.yaml", None, "", "the file is empty"),
    ("not_a_mapping.yaml", 1, "", "a template must be a mapping with key, version, title and perspectives; got a list"),
    ("multiple_documents.yaml", 10, "", "more than one YAML document"),
    ("alias_bomb.yaml", 4, "", "anchors and aliases (&name, *name) are not allowed"),
    ("merge_key.yaml", 9, "perspectives[0].csfs[0].<<", "merge keys ('<<') are not allowed"),
    ("python_tag.yaml", 3, "", "could not determine a constructor for the tag"),
]


def _problems(text: str | bytes) -> list[Problem]:
    with pytest.raises(TemplateInvalid) as caught:
        parse_template(text, source_name="t.yaml")
    return caught.value.problems


def test_every_broken_file_is_in_the_table() -> None:
    assert sorted(path.name for path in BROKEN.glob("*.yaml")) == sorted(case[0] for case in BROKEN_CASES)


@pytest.mark.parametrize(("name", "line", "path", "message"), BROKEN_CASES, ids=[case[0] for case in BROKEN_CASES])
def test_broken_template_is_reported_at_its_line_and_path(name: str, line: int | None, path: str, message: str) -> None:
    file = BROKEN / name
    with pytest.raises(TemplateInvalid) as caught:
        load_template_file(file)
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.path) == (str(file), line, path)
    assert message in problem.message
    assert str(problem).startswith(f"{file}:{line}: " if line else f"{file}: ")


def test_problem_reads_like_a_compiler_message() -> None:
    problem = Problem("scorecards/x.yaml", 42, f"{KPI}.aggregate", "'aggregate' is only allowed on member-level KPIs")
    assert str(problem) == (
        "scorecards/x.yaml:42: perspectives[0].csfs[0].kpis[0].aggregate: "
        "'aggregate' is only allowed on member-level KPIs"
    )
    assert str(Problem("x.yaml", None, "", "the file is empty")) == "x.yaml: the file is empty"


def test_all_problems_of_a_template_come_back_at_once() -> None:
    text = """\
key: Bad Key
version: "1"
title: Several problems
perspectives:
  - key: finance
    title: Finance
    colour: blue
    csfs:
      - key: loans
        title: Loans
        kpis:
          - key: npl
            title: NPL
          - key: npl
            title: NPL again
            level: firm
"""
    found = {(problem.line, problem.path) for problem in _problems(text)}
    assert found == {
        (1, "key"),
        (7, "perspectives[0].colour"),
        (14, "perspectives[0].csfs[0].kpis[1].key"),
        (16, "perspectives[0].csfs[0].kpis[1].level"),
    }


def test_problems_are_capped_so_the_first_ones_stay_visible() -> None:
    text = "perspectives:\n" + "".join(f"  - key: p{i}\n    csfs: []\n" for i in range(MAX_REPORTED_PROBLEMS))
    problems = _problems(text)
    assert len(problems) == MAX_REPORTED_PROBLEMS + 1
    assert problems[-1].message.startswith("... and ")


def test_input_over_the_size_limit_is_refused_before_parsing() -> None:
    text = "description: " + "x" * MAX_TEMPLATE_BYTES
    [problem] = _problems(text)
    assert problem.message == "the file is larger than 512 KiB"
    assert _problems(text.encode())[0].message == problem.message


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (b"key: caf\xe9\n", 1, "the file is not UTF-8 text"),
        ("key: a\x00b\n", 1, "the file contains a character YAML does not allow (U+0000)"),
        ("a: " + "[" * 100 + "]" * 100, 1, "nested more than 32 levels deep"),
        ("key: t\nversion: " + "9" * 5000, 2, "cannot read this value"),
        ("key: t\nversion: 2024-02-31\n", 2, "cannot read this value: day is out of range for month"),
        ("---\n", None, "the file is empty"),
    ],
    ids=["latin-1", "nul", "deep-nesting", "huge-int", "impossible-date", "empty-document"],
)
def test_hostile_input_becomes_a_problem(text: str | bytes, line: int | None, message: str) -> None:
    [problem] = _problems(text)
    assert problem.line == line
    assert message in problem.message


def test_byte_order_mark_and_bytes_input_are_accepted() -> None:
    text = THAI.read_text(encoding="utf-8")
    assert parse_template(("\ufeff" + text).encode(), source_name="x") == parse_template(text, source_name="x")


def test_numeric_version_is_read_as_text_but_a_boolean_is_not() -> None:
    text = THAI.read_text(encoding="utf-8")
    assert parse_template(text.replace('version: "1.2"', "version: 1"), source_name="x").version == "1"
    assert parse_template(text.replace('version: "1.2"', "version: 2.5"), source_name="x").version == "2.5"
    [problem] = _problems(text.replace('version: "1.2"', "version: yes"))
    assert (problem.path, problem.message) == ("version", "expected text, got true (a yes/no value)")


def test_content_hash_ignores_comments_layout_quoting_and_spelled_out_defaults() -> None:
    text = THAI.read_text(encoding="utf-8")
    original = content_hash(parse_template(text, source_name="x"))
    edited = "# a new first comment\n\n" + text.replace('version: "1.2"', "version: '1.2'   # same version").replace(
        "\n  - key: customer\n", "\n\n\n  - key: customer\n"
    ).replace("            unit: {en: loans, th: สินเชื่อ}\n", "            unit: {en: 'loans', th: \"สินเชื่อ\"}\n").replace(
        "      - key: cost-control\n", "      - key: cost-control\n        weight: 1.0\n"
    )
    assert edited != text
    assert content_hash(parse_template(edited, source_name="x")) == original


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("en: Cost control\n", "en: Cost management\n"),
        ("    5: {en: Fully, th: มากที่สุด}", "    5: {en: Completely, th: มากที่สุด}"),
        ("  green: 70", "  green: 75"),
        ('version: "1.2"', 'version: "2"'),
    ],
)
def test_content_hash_changes_with_any_content_change(old: str, new: str) -> None:
    text = THAI.read_text(encoding="utf-8")
    assert old in text
    changed = parse_template(text.replace(old, new, 1), source_name="x")
    assert content_hash(changed) != content_hash(parse_template(text, source_name="x"))


def test_load_template_file_returns_the_content_hash() -> None:
    spec, digest = load_template_file(THAI)
    assert digest == content_hash(spec)


def test_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(TemplateInvalid) as caught:
        load_template_file(missing)
    [problem] = caught.value.problems
    assert problem.file == str(missing) and problem.message.startswith("cannot read the file")


def test_validate_paths_reports_missing_translations_as_warnings_with_lines(tmp_path: Path) -> None:
    text = THAI.read_text(encoding="utf-8").replace("      th: ด้านลูกค้า\n", "", 1)
    path = tmp_path / "thai.yaml"
    path.write_text(text, encoding="utf-8")
    problems, warnings = validate_paths([path])
    line = text.splitlines().index("  - key: customer") + 2
    assert problems == []
    assert warnings == [f"{path}:{line}: perspectives[1].title: no th translation"]


def test_validate_paths_collects_problems_from_files_and_directories(tmp_path: Path) -> None:
    copy = tmp_path / "copy.yaml"
    copy.write_bytes(THAI.read_bytes())
    (tmp_path / "empty").mkdir()
    problems, warnings = validate_paths([THAI, copy, BROKEN / "wrong_type.yaml", tmp_path / "empty"])
    assert warnings == []
    assert {(problem.file, problem.path): problem.message for problem in problems} == {
        (str(copy), "key"): f"template 'thai-food-cluster' version '1.2' is also defined in {THAI}",
        (str(BROKEN / "wrong_type.yaml"), "perspectives[0].weight"): "expected a number, got the text 'heavy'",
        (str(tmp_path / "empty"), ""): "no .yaml or .yml files in this directory",
    }
    problems, _ = validate_paths([BROKEN])
    assert len(problems) == len(BROKEN_CASES)


def test_json_schema_describes_the_template_format() -> None:
    schema = template_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"]
    assert {"key", "version", "title", "perspectives"} <= set(schema["required"])
    kpi = schema["$defs"]["KpiSpec"]
    assert kpi["additionalProperties"] is False
    assert kpi["properties"]["level"]["enum"] == ["member", "cluster"]
