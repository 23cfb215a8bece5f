"""Property tests for the YAML loader beyond line-level fuzzing (test_scorecard_fuzz.py): mutations of the
template *data* (which reach the validation rather than the YAML syntax), valid templates that survive a
round trip, and the guards (aliases, nesting, size) at and around their limits."""

import copy
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from app.scorecards.parsing import (
    MAX_NESTING,
    MAX_TEMPLATE_BYTES,
    TemplateInvalid,
    content_hash,
    parse_template,
)
from app.scorecards.schema import TemplateSpec

SHIPPED = {
    path.name: yaml.safe_load(path.read_text(encoding="utf-8"))
    for path in sorted((Path(__file__).resolve().parents[3] / "scorecards").glob("*.yaml"))
}
ALIAS_MESSAGE = "anchors and aliases (&name, *name) are not allowed"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", "member", "cluster", "yes_no", "percent", "count", "higher", "lower", "core", "0", "-1"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _containers(tree: Any, found: list[Any]) -> list[Any]:
    if isinstance(tree, (dict, list)):
        found.append(tree)
        for child in tree.values() if isinstance(tree, dict) else tree:
            _containers(child, found)
    return found


@st.composite
def mutated_data(draw: st.DrawFn) -> str:
    """A shipped template with a few changes to its data: keys dropped, values replaced or retyped,
    list items duplicated or removed, unknown keys added; dumped back to YAML."""
    tree = copy.deepcopy(SHIPPED[draw(st.sampled_from(sorted(SHIPPED)))])
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        container = draw(st.sampled_from(_containers(tree, [])))
        if isinstance(container, dict) and container:
            key = draw(st.sampled_from(sorted(container, key=str)))
            operation = draw(st.sampled_from(["drop", "replace", "stringify", "add"]))
            if operation == "drop":
                del container[key]
            elif operation == "replace":
                container[key] = draw(values)
            elif operation == "stringify":
                container[key] = str(container[key])
            else:
                container[draw(st.text(min_size=1, max_size=12))] = draw(values)
        elif isinstance(container, list) and container:
            index = draw(st.integers(min_value=0, max_value=len(container) - 1))
            operation = draw(st.sampled_from(["remove", "duplicate", "replace", "empty"]))
            if operation == "remove":
                del container[index]
            elif operation == "duplicate":
                container.insert(index, copy.deepcopy(container[index]))
            elif operation == "replace":
                container[index] = draw(values)
            else:
                container.clear()
    return yaml.safe_dump(tree, allow_unicode=True, sort_keys=False)


def _parse(text: str) -> TemplateSpec | TemplateInvalid:
    started = time.monotonic()
    try:
        result: TemplateSpec | TemplateInvalid = parse_template(text, source_name="prop.yaml")
    except TemplateInvalid as exc:
        result = exc
    assert time.monotonic() - started < 20, "parsing must never hang"
    return result


@settings(max_examples=100, deadline=None)
@given(mutated_data())
def test_mutated_template_data_gives_a_valid_template_or_located_problems(text: str) -> None:
    result = _parse(text)
    if isinstance(result, TemplateInvalid):
        assert result.problems
        lines = text.count("\n") + 1
        for problem in result.problems:
            assert problem.message and problem.file == "prop.yaml"
            assert problem.line is None or 1 <= problem.line <= lines
    else:
        # Whatever was accepted is a template that survives its own round trip unchanged.
        again = parse_template(yaml.safe_dump(result.model_dump(mode="json", exclude_defaults=True)), source_name="x")
        assert content_hash(again) == content_hash(result)


def test_every_shipped_template_survives_a_round_trip_through_its_data() -> None:
    for name, tree in SHIPPED.items():
        original = parse_template(yaml.safe_dump(tree, allow_unicode=True), source_name=name)
        dumped = yaml.safe_dump(original.model_dump(mode="json", exclude_defaults=True), allow_unicode=True)
        assert content_hash(parse_template(dumped, source_name=name)) == content_hash(original)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_shared_value_anywhere_is_refused_as_an_alias(data: st.DataObject) -> None:
    """PyYAML writes a value that appears twice as &anchor/*alias; the loader refuses it, wherever it is."""
    tree = copy.deepcopy(SHIPPED[data.draw(st.sampled_from(sorted(SHIPPED)))])
    containers = [c for c in _containers(tree, []) if c is not tree]
    shared = data.draw(st.sampled_from(containers))
    target = data.draw(st.sampled_from([c for c in _containers(tree, []) if isinstance(c, dict)]))
    target[data.draw(st.sampled_from(sorted(target)))] = shared
    text = yaml.safe_dump(tree, allow_unicode=True, sort_keys=False)
    assume("&id" in text)  # replacing a value by itself (or its own parent) shares nothing
    result = _parse(text)
    assert isinstance(result, TemplateInvalid)
    assert any(ALIAS_MESSAGE in p.message for p in result.problems)


@settings(max_examples=40, deadline=None)
@given(levels=st.integers(min_value=1, max_value=30), width=st.integers(min_value=2, max_value=12))
def test_exponential_alias_expansion_is_refused_at_the_first_anchor(levels: int, width: int) -> None:
    lines = ["key: bomb", "a0: &a0 [lol]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    started = time.monotonic()
    result = _parse("\n".join(lines) + "\n")
    assert time.monotonic() - started < 1, "refused before anything expands"
    assert isinstance(result, TemplateInvalid)
    [problem] = result.problems
    assert ALIAS_MESSAGE in problem.message and problem.line == 2


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(min_value=1, max_value=400), flow=st.booleans())
@example(depth=MAX_NESTING - 2, flow=True)
@example(depth=MAX_NESTING - 1, flow=True)
@example(depth=MAX_NESTING - 2, flow=False)
@example(depth=MAX_NESTING - 1, flow=False)
def test_nesting_is_refused_beyond_the_limit_and_only_there(depth: int, flow: bool) -> None:
    """`depth` lists around one scalar inside the top-level mapping, written inline or as indented blocks."""
    if flow:
        text = "description: " + "[" * depth + "x" + "]" * depth + "\n"
    else:
        text = "description:\n" + "".join("  " * i + "-\n" for i in range(depth - 1)) + "  " * (depth - 1) + "- x\n"
    result = _parse(text)
    assert isinstance(result, TemplateInvalid)
    nesting = [p for p in result.problems if "levels deep" in p.message]
    # Every node counts: the top-level mapping, the lists and the innermost scalar.
    assert bool(nesting) == (depth + 2 > MAX_NESTING), [p.message for p in result.problems]


@settings(max_examples=20, deadline=None)
@given(offset=st.integers(min_value=-64, max_value=64), multibyte=st.booleans())
def test_size_limit_counts_bytes_and_holds_exactly_at_the_limit(offset: int, multibyte: bool) -> None:
    head = yaml.safe_dump(SHIPPED[sorted(SHIPPED)[0]], allow_unicode=True, sort_keys=False)
    filler = "é" if multibyte else "x"  # é is two bytes in UTF-8: the limit is on bytes, not characters
    room = MAX_TEMPLATE_BYTES + offset - len(head.encode()) - len(b"# \n")
    comment = "# " + filler * (room // len(filler.encode())) + "x" * (room % len(filler.encode())) + "\n"
    text = head + comment
    size = len(text.encode())
    assert size == MAX_TEMPLATE_BYTES + offset
    result = _parse(text)
    too_large = isinstance(result, TemplateInvalid) and any("larger than" in p.message for p in result.problems)
    assert too_large == (size > MAX_TEMPLATE_BYTES)
    if size <= MAX_TEMPLATE_BYTES:
        assert isinstance(result, TemplateSpec)
