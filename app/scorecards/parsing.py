"""Turn template YAML into a TemplateSpec, or into problems a template author can act on.

Pure: no database, no web framework. Templates come from people editing text files, so every
problem carries the file, the line and the path in the template, in plain words.
"""

import difflib
import hashlib
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from app.scorecards.schema import (
    LANGUAGE_PATTERN,
    SLUG_PATTERN,
    VERSION_PATTERN,
    Loc,
    TemplateSpec,
    describe_value,
    find_duplicate_keys,
    format_loc,
)

MAX_TEMPLATE_BYTES = 512 * 1024
# A template nests about eight levels deep; the cap keeps PyYAML's recursive composer far from
# Python's recursion limit on hostile input.
MAX_NESTING = 32
# Past this many, the rest are usually consequences of the first ones and only bury them.
MAX_REPORTED_PROBLEMS = 50

_MERGE_TAG = "tag:yaml.org,2002:merge"
_PATTERN_NAMES = {
    SLUG_PATTERN: "a valid key: lowercase letters, digits, '-' and '_', starting with a letter or digit",
    LANGUAGE_PATTERN: "a language code such as 'en', 'th' or 'pt-BR'",
    VERSION_PATTERN: "a valid version: letters, digits, '.', '-' and '_', such as \"1\" or \"2024.1\"",
}
_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "literal_error": "one of the allowed values",
}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class TemplateInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


class _Unreadable(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _TemplateLoader(yaml.SafeLoader):
    """Safe loading minus anchors and aliases: a few lines of aliases expand to billions of nodes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Unreadable(
                "anchors and aliases (&name, *name) are not allowed in templates; write each value out",
                event.start_mark.line + 1,
            )
        if self._depth >= MAX_NESTING:
            raise _Unreadable(f"nested more than {MAX_NESTING} levels deep", event.start_mark.line + 1)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> typing.Any:
        # Scalars that resolve to impossible values (2024-02-31, a 5000-digit int) fail with a bare
        # ValueError; this is the last place that still knows the line.
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            raise _Unreadable(f"cannot read this value: {exc}", node.start_mark.line + 1) from exc


def parse_template(text: str | bytes, *, source_name: str) -> TemplateSpec:
    spec, _, problems = _parse(text, source_name)
    if spec is None:
        raise TemplateInvalid(problems)
    return spec


KPI_FIELDS_ADDED_LATER = ("min", "max", "asked_of")


def content_hash(spec: TemplateSpec) -> str:
    """Hash of the meaning, not the text: comments, layout and spelled-out defaults do not make a
    new template version, any change of content does."""
    content = spec.model_dump(mode="json")
    for kpi in (k for p in content["perspectives"] for c in p["csfs"] for k in c["kpis"]):
        # Fields the format gained later, left out while unused: upgrading ClusterScore makes no new version
        # of an unchanged template.
        for name in KPI_FIELDS_ADDED_LATER:
            if kpi.get(name) is None:
                kpi.pop(name, None)
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_template_file(path: Path) -> tuple[TemplateSpec, str]:
    spec = parse_template(_read(path), source_name=str(path))
    return spec, content_hash(spec)


def validate_paths(paths: list[Path]) -> tuple[list[Problem], list[str]]:
    """Directories are searched for *.yaml and *.yml so `clusterscore validate scorecards/` works."""
    problems: list[Problem] = []
    warnings: list[str] = []
    defined_in: dict[tuple[str, str], str] = {}
    for path in _expand(paths, problems):
        name = str(path)
        try:
            data = _read(path)
        except TemplateInvalid as exc:
            problems.extend(exc.problems)
            continue
        spec, root, found = _parse(data, name)
        problems.extend(found)
        if spec is None or root is None:
            continue
        ident = (spec.key, spec.version)
        if ident in defined_in:
            problems.append(
                Problem(
                    name,
                    _line_of(root, ("key",)),
                    "key",
                    f"template '{spec.key}' version '{spec.version}' is also defined in {defined_in[ident]}",
                )
            )
        defined_in.setdefault(ident, name)
        for loc, missing in spec.translation_gaps():
            where = Problem(name, _line_of(root, loc), format_loc(loc), f"no {', '.join(missing)} translation")
            warnings.append(str(where))
    return problems, warnings


def template_json_schema() -> dict[str, typing.Any]:
    schema = TemplateSpec.model_json_schema()
    schema.pop("title", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:clusterscore:scorecard-template",
        "title": "ClusterScore scorecard template",
        **schema,
    }


def _expand(paths: list[Path], problems: list[Problem]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not files:
                problems.append(Problem(str(path), None, "", "no .yaml or .yml files in this directory"))
            found.extend(files)
        else:
            found.append(path)
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            # One byte over the limit is enough for _parse to report the size without reading it all.
            return handle.read(MAX_TEMPLATE_BYTES + 1)
    except OSError as exc:
        raise TemplateInvalid([Problem(str(path), None, "", f"cannot read the file: {exc.strerror or exc}")]) from exc


def _parse(text: str | bytes, source_name: str) -> tuple[TemplateSpec | None, yaml.Node | None, list[Problem]]:
    try:
        return _parse_unguarded(text, source_name)
    except Exception as exc:
        # Templates are uploaded by people and fuzzed by tests: whatever slips past the specific
        # handlers must still come back as a problem, never as a 500.
        message = f"cannot read the template ({type(exc).__name__}: {exc})"
        return None, None, [Problem(source_name, None, "", message)]


def _parse_unguarded(
    text: str | bytes, source_name: str
) -> tuple[TemplateSpec | None, yaml.Node | None, list[Problem]]:
    def fail(message: str, line: int | None = None) -> tuple[None, None, list[Problem]]:
        return None, None, [Problem(source_name, line, "", message)]

    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEMPLATE_BYTES:
        return fail(f"the file is larger than {MAX_TEMPLATE_BYTES // 1024} KiB")
    if isinstance(text, bytes):
        try:
            source = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return fail("the file is not UTF-8 text", text.count(b"\n", 0, exc.start) + 1)
    else:
        source = text.removeprefix("\ufeff")

    try:
        root, data, node_problems = _load_yaml(source)
    except _Unreadable as exc:
        return fail(exc.message, exc.line)

    if data is None:
        return fail("the file is empty")
    problems = [Problem(source_name, line, format_loc(loc), message) for loc, line, message in node_problems]
    if not isinstance(data, dict):
        message = f"a template must be a mapping with key, version, title and perspectives; got {describe_value(data)}"
        return None, root, [*problems, Problem(source_name, root.start_mark.line + 1, "", message)]

    for duplicate in find_duplicate_keys(data.get("perspectives")):
        problems.append(
            Problem(source_name, _line_of(root, duplicate.loc), format_loc(duplicate.loc), duplicate.message)
        )
    spec: TemplateSpec | None = None
    try:
        spec = TemplateSpec.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            if error["type"] == "duplicate_key":
                continue  # already reported above, at the exact position of each duplicate
            loc = tuple(error["loc"])
            path = format_loc(tuple(segment for segment in loc if segment != "[key]"))
            problems.append(Problem(source_name, _line_of(root, loc), path, _message(error)))
    if problems:
        problems.sort(key=lambda problem: (problem.line or 0, problem.path))
        if len(problems) > MAX_REPORTED_PROBLEMS:
            more = len(problems) - MAX_REPORTED_PROBLEMS
            problems = [*problems[:MAX_REPORTED_PROBLEMS], Problem(source_name, None, "", f"... and {more} more")]
        return None, root, problems
    return spec, root, []


def _load_yaml(source: str) -> tuple[yaml.Node, object, list[tuple[Loc, int, str]]]:
    """Exactly one document, composed by the restricted loader; any YAML-level failure is _Unreadable."""
    try:
        loader = _TemplateLoader(source)
        try:
            if not loader.check_node():
                raise _Unreadable("the file is empty")
            root = loader.get_node()
            if loader.check_node():
                raise _Unreadable(
                    "the file holds more than one YAML document ('---'); put each template in its own file",
                    loader.peek_event().start_mark.line + 1,
                )
            if root is None:
                raise _Unreadable("the file is empty")
            # Before construction, which merges '<<' keys away and keeps only the last duplicate.
            node_problems = list(_node_problems(root, ()))
            return root, loader.construct_document(root), node_problems
        finally:
            loader.dispose()
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        message = f"this YAML value is not allowed in a template: {exc.problem}"
        raise _Unreadable(message, mark.line + 1 if mark else None) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = f"YAML syntax error: {exc.problem or exc.context}"
        if exc.problem and exc.context and exc.context_mark and exc.context_mark is not mark:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise _Unreadable(message, mark.line + 1 if mark else None) from exc
    except yaml.reader.ReaderError as exc:
        line = source.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise _Unreadable(f"the file contains a character YAML does not allow (U+{code:04X})", line) from exc


def _node_problems(node: yaml.Node, loc: Loc) -> typing.Iterator[tuple[Loc, int, str]]:
    """What PyYAML's constructor would hide: it keeps the last of two equal keys without a word."""
    if isinstance(node, yaml.MappingNode):
        first_line: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            if key_node.tag == _MERGE_TAG:
                yield (*loc, name), line, "merge keys ('<<') are not allowed in templates; write each value out"
            elif isinstance(key_node, yaml.ScalarNode):
                ident = (key_node.tag, name)
                if ident in first_line:
                    yield (
                        (*loc, name),
                        line,
                        f"duplicate key '{name}' (first at line {first_line[ident]}); YAML would silently keep "
                        "only the last one",
                    )
                first_line.setdefault(ident, line)
            yield from _node_problems(value_node, (*loc, name))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _node_problems(item, (*loc, index))


def _line_of(root: yaml.Node, loc: Loc) -> int:
    """The line of the key or list item `loc` names; for something missing, the mapping that lacks it."""
    node, line = root, root.start_mark.line + 1
    for segment in loc:
        if isinstance(node, yaml.MappingNode):
            matches = [
                pair for pair in node.value if isinstance(pair[0], yaml.ScalarNode) and pair[0].value == str(segment)
            ]
            if not matches:
                return line
            key_node, node = matches[-1]  # PyYAML keeps the last of duplicate keys, so pydantic saw that one
            line = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(segment, int) and 0 <= segment < len(node.value):
            node = node.value[segment]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _message(error: ErrorDetails) -> str:
    kind, loc, value = error["type"], error["loc"], error["input"]
    ctx = error.get("ctx") or {}
    name = str(loc[-1]) if loc else ""
    if kind == "missing":
        return f"missing required field '{name}'"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        return f"unknown field '{name}'" + _suggest(name, list(model.model_fields) if model else [])
    if kind == "invalid_key":
        return f"field names must be text, got {describe_value(value)}"
    if kind == "literal_error":
        allowed = _literal_values(_field_at(loc))
        listed = ", ".join(repr(choice) for choice in allowed) or ctx.get("expected", "")
        return f"{value!r} is not allowed here; use one of: {listed}" + _suggest(str(value), allowed)
    if kind == "string_pattern_mismatch":
        return f"{value!r} is not {_PATTERN_NAMES.get(ctx.get('pattern', ''), 'in the expected format')}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {describe_value(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long: at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        count = ctx.get("min_length")
        return f"needs at least {count} {'entry' if count == 1 else 'entries'}"
    if kind == "greater_than":
        return f"must be greater than {ctx.get('gt')}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind == "finite_number":
        return "must be a finite number"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = TemplateSpec
    for segment in loc:
        if isinstance(segment, int):
            continue  # list index: same model as the list items
        field = model.model_fields.get(segment) if model else None
        model = _nested_model(field.annotation) if field else None
        if model is None:
            return None
    return model


def _field_at(loc: tuple[int | str, ...]) -> FieldInfo | None:
    model = _model_at(loc[:-1]) if loc else None
    return model.model_fields.get(str(loc[-1])) if model else None


def _nested_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _nested_model(arg)
        if found:
            return found
    return None


def _literal_values(field: FieldInfo | None) -> list[str]:
    def collect(annotation: object) -> list[str]:
        if typing.get_origin(annotation) is typing.Literal:
            return [str(arg) for arg in typing.get_args(annotation)]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
            return [value for arg in typing.get_args(annotation) for value in collect(arg)]
        return []

    return collect(field.annotation) if field else []
