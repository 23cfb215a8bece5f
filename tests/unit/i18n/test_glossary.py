"""translations/GLOSSARY.md holds: one term per concept in every catalogue, and no word on the list of words
not to use, in the catalogues or in the templates' labels of that language."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from babel.messages.pofile import read_po

from app.config import ROOT
from app.i18n.translation import LOCALES, SOURCE_LOCALE, TRANSLATIONS_DIR

GLOSSARY = TRANSLATIONS_DIR / "GLOSSARY.md"
CATALOGUE_LOCALES = [locale for locale in LOCALES if locale != SOURCE_LOCALE]


def _table(heading: str) -> list[dict[str, str]]:
    """The rows of the Markdown table under `heading`, as {column: cell}; "\\|" in a cell is a "|"."""
    section = GLOSSARY.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line.strip() for line in section.splitlines() if line.strip().startswith("|")]

    def cells(line: str) -> list[str]:
        return [c.strip().strip("`").replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip("|"))]

    header = cells(lines[0])
    return [dict(zip(header, cells(line), strict=True)) for line in lines[2:]]


def _messages(locale: str) -> Iterator[tuple[str, str]]:
    with (TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        catalogue = read_po(fp, locale=locale)
    for message in catalogue:
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        for form in [message.string] if isinstance(message.string, str) else message.string:
            yield msgid, form


def _template_labels(locale: str) -> Iterator[tuple[str, str]]:
    def walk(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get(locale), str) and "en" in node:
                yield node[locale]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    for path in sorted(Path(ROOT, "scorecards").glob("*.yaml")):
        for label in walk(yaml.safe_load(path.read_text())):
            yield path.name, label


def test_the_glossary_covers_every_catalogue_language() -> None:
    terms = _table("Terms")
    assert terms and all(set(CATALOGUE_LOCALES) <= set(row) for row in terms)
    assert {row["lang"] for row in _table("Words not to use")} <= set(CATALOGUE_LOCALES)


@pytest.mark.parametrize("locale", CATALOGUE_LOCALES)
def test_one_term_per_concept(locale: str) -> None:
    wrong = []
    for row in _table("Terms"):
        forms = [form.strip() for form in row[locale].split(";")]
        for msgid, text in _messages(locale):
            if re.search(row["en"], msgid, re.IGNORECASE) and not any(f.lower() in text.lower() for f in forms):
                wrong.append(f"{row['concept']}: {msgid!r} -> {text!r}")
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("locale", CATALOGUE_LOCALES)
def test_no_word_not_to_use(locale: str) -> None:
    rows = [row for row in _table("Words not to use") if row["lang"] == locale]
    found = []
    for row in rows:
        for where, text in [*_messages(locale), *_template_labels(locale)]:
            if re.search(row["not"], text):
                found.append(f"{row['not']} (write {row['but']}) in {where!r}: {text!r}")
    assert found == [], "\n".join(found)
