"""Whatever text arrives, parsing ends quickly with a TemplateSpec or a TemplateInvalid: never another exception."""

import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from app.scorecards.parsing import TemplateInvalid, parse_template
from app.scorecards.schema import TemplateSpec

SHIPPED = [
    path.read_text(encoding="utf-8")
    for path in sorted((Path(__file__).resolve().parents[3] / "scorecards").glob("*.yaml"))
]
# Generous: the largest template parses in a few hundredths of a second.
TIME_LIMIT_SECONDS = 20.0  # a guard against hangs, not a speed target


@st.composite
def mutated_templates(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SHIPPED)).splitlines(keepends=True)
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        operation = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "indent", "dedent", "truncate"]))
        if operation == "delete" and len(lines) > 1:
            del lines[index]
        elif operation == "duplicate":
            lines.insert(index, lines[index])
        elif operation == "swap":
            other = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        elif operation == "insert":
            lines.insert(index, draw(st.text(max_size=30)) + "\n")
        elif operation == "indent":
            lines[index] = "  " + lines[index]
        elif operation == "dedent":
            lines[index] = lines[index].removeprefix("  ")
        elif operation == "truncate":
            cut = draw(st.integers(min_value=0, max_value=len(lines[index])))
            lines[index] = lines[index][:cut]
    return "".join(lines)


def _parse_is_total(text: str | bytes) -> None:
    started = time.monotonic()
    try:
        result = parse_template(text, source_name="fuzz.yaml")
    except TemplateInvalid as exc:
        assert exc.problems
        # YAML also breaks lines at \r, \x85, \u2028 and \u2029; str.splitlines() counts those (and a few more).
        decoded = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
        lines = len(decoded.splitlines()) + 1
        for problem in exc.problems:
            assert problem.file == "fuzz.yaml" and problem.message
            assert problem.line is None or 1 <= problem.line <= lines
    else:
        assert isinstance(result, TemplateSpec)
    assert time.monotonic() - started < TIME_LIMIT_SECONDS


@settings(max_examples=200, deadline=None)
@given(mutated_templates())
def test_mutated_template_parses_or_is_reported(text: str) -> None:
    _parse_is_total(text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_parse_or_are_reported(data: bytes) -> None:
    _parse_is_total(data)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("key: -[]{}&*!|>'\"#\n\t ?,0123456789abc<")), max_size=300))
def test_yaml_like_text_parses_or_is_reported(text: str) -> None:
    _parse_is_total(text)
