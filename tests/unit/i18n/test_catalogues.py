"""Every interface message is translated in every shipped language, with its placeholders and markup.

The messages are extracted from the source now (the same `make extract` the catalogues are updated
with), so a string added without `make messages` and a translation fails here, not in front of a member.
"""

import re
import subprocess
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from app.config import ROOT
from app.i18n.translation import LOCALES, SOURCE_LOCALE, TRANSLATIONS_DIR

CATALOGUE_LOCALES = [locale for locale in LOCALES if locale != SOURCE_LOCALE]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
TAG = re.compile(r"<[^>]+>")
# Words that are the same in the translation (a copied English msgid is otherwise a forgotten translation).
SAME_IN_TRANSLATION = {
    "es": {"Sector", "No", "no", "KPI: %(title)s"},
    "pt": {"Clusters", "clusters", "KPI: %(title)s"},  # Brazilian Portuguese says "cluster"
    "fr": {"Programme", "mature", "association", "Distribution", "Clusters", "clusters", "Perspective", "perspective"}
    | {"Score", "Scores (CSV)", "Score (0\u2013100)", "KPI", "Action", "Notes", "Note", "Participant", "Source"}
    | {"Pages"},
}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run(["make", "-s", "extract", f"POT={pot}"], cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as fp:
        return read_po(fp)


def _catalogue(locale: str) -> Catalog:
    with (TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        return read_po(fp, locale=locale)


def _forms(msgstr: str | tuple[str, ...] | list[str] | None) -> list[str]:
    if msgstr is None:
        return [""]
    return [msgstr] if isinstance(msgstr, str) else list(msgstr)


def test_extraction_finds_templates_errors_and_member_messages(extracted: Catalog) -> None:
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in extracted if m.id}
    assert "Log in" in ids  # a template string
    assert "No such cluster." in ids  # an AppError message
    assert "Please choose a whole number from %(min)s to %(max)s." in ids  # an AnswerRejected message
    assert "Please choose one of the success factors." in ids  # an _l() message
    assert len(ids) > 90


@pytest.mark.parametrize("locale", CATALOGUE_LOCALES)
def test_every_message_is_translated(extracted: Catalog, locale: str) -> None:
    catalogue = _catalogue(locale)
    untranslated = []
    for message in extracted:
        if not message.id:
            continue
        translated = catalogue.get(message.id, message.context)
        if translated is None or translated.fuzzy or not all(_forms(translated.string)):
            untranslated.append(message.id)
    assert untranslated == [], f"run `make messages` and translate these in translations/{locale}: {untranslated}"


@pytest.mark.parametrize("locale", CATALOGUE_LOCALES)
def test_translations_keep_placeholders_and_markup(locale: str) -> None:
    catalogue = _catalogue(locale)
    assert catalogue.num_plurals == {"th": 1, "ar": 6}.get(locale, 2)  # Arabic: zero, one, two, few, many, other
    for message in catalogue:
        if not message.id or not message.string:
            continue
        source = " ".join(message.id) if isinstance(message.id, tuple) else message.id
        for form in _forms(message.string):
            # %(num)s may be left out of a singular ("one minute"), nothing else may be lost or invented.
            assert set(PLACEHOLDER.findall(form)) - {"num"} == set(PLACEHOLDER.findall(source)) - {"num"}, (
                message.id,
                form,
            )
            assert sorted(TAG.findall(form)) == sorted(TAG.findall(source)), (message.id, form)
            # A copied English msgid is a forgotten translation, except for words that are the same.
            assert form != source or message.id in SAME_IN_TRANSLATION.get(locale, set()), (message.id, locale)
    assert list(catalogue.check()) == []  # Babel's own checks (python-format consistency)


def test_compiled_catalogues_are_not_committed() -> None:
    ignored = (ROOT / ".gitignore").read_text()
    assert "translations/*/LC_MESSAGES/*.mo" in ignored
    assert not list(Path(ROOT, "translations").glob("*.mo"))
