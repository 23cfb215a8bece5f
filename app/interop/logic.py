"""Pure mapping of a cluster's effective scorecard onto an XLSForm (survey, choices, settings).

Form field names must be valid XML names, scorecard keys are [a-z0-9][a-z0-9_-]*: a key becomes
a prefixed name with '-' replaced by '_' ("k_" for a KPI answer, "r_" for a CSF rating, "c_" for its
comment). Two keys that differ only by '-' versus '_' would collide, so names are handed out in
scorecard order with a numeric suffix on collision and the whole mapping is kept in `FieldMap`:
the same scorecard always gives the same names, and every name maps back to exactly one key.
"""

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from openpyxl import Workbook

from app.clusters.schemas import Scorecard, ScorecardKpi

FieldKind = Literal["kpi", "rating", "comment"]

LANGUAGE_NAMES = {
    "en": "English",
    "th": "Thai",
    "es": "Spanish",
    "pt": "Portuguese",
    "pt-BR": "Portuguese",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "ca": "Catalan",
    "vi": "Vietnamese",
    "id": "Indonesian",
}
_PREFIX: dict[FieldKind, str] = {"kpi": "k_", "rating": "r_", "comment": "c_"}

# Words the form needs besides the scorecard's own text; unknown languages fall back to English.
_WORDS: dict[str, dict[str, str]] = {
    "yes": {"en": "Yes", "es": "Sí", "th": "ใช่", "pt": "Sim"},
    "no": {"en": "No", "es": "No", "th": "ไม่ใช่", "pt": "Não"},
    "comment": {
        "en": "Comment (optional)",
        "es": "Comentario (opcional)",
        "th": "ความคิดเห็น (ไม่บังคับ)",
        "pt": "Comentário (opcional)",
    },
    "not_negative": {
        "en": "Enter 0 or a larger number.",
        "es": "Introduzca 0 o un número mayor.",
        "th": "กรุณาใส่ 0 หรือตัวเลขที่มากกว่า",
        "pt": "Digite 0 ou um número maior.",
    },
    "percent": {
        "en": "Enter a percentage between 0 and 100.",
        "es": "Introduzca un porcentaje entre 0 y 100.",
        "th": "กรุณาใส่ร้อยละระหว่าง 0 ถึง 100",
        "pt": "Digite uma porcentagem entre 0 e 100.",
    },
}
SURVEY_COLUMNS = ("type", "name", "label", "hint", "required", "constraint", "constraint_message")


def language_column(lang: str) -> str:
    """The XLSForm way of naming a language: 'English (en)'."""
    return f"{LANGUAGE_NAMES.get(lang, lang)} ({lang})"


def word(key: str, lang: str) -> str:
    texts = _WORDS[key]
    return texts.get(lang) or texts.get(lang.split("-")[0]) or texts["en"]


@dataclass
class FieldMap:
    """Form field name <-> (kind, scorecard key), both ways."""

    by_name: dict[str, tuple[FieldKind, str]] = field(default_factory=dict)
    by_key: dict[tuple[FieldKind, str], str] = field(default_factory=dict)

    def add(self, kind: FieldKind, key: str) -> str:
        base = _PREFIX[kind] + key.replace("-", "_")
        name, n = base, 1
        while name in self.by_name:
            n += 1
            name = f"{base}_{n}"
        self.by_name[name] = (kind, key)
        self.by_key[(kind, key)] = name
        return name

    def lookup(self, name: str) -> tuple[FieldKind, str] | None:
        return self.by_name.get(name)


def group_name(key: str) -> str:
    return "p_" + key.replace("-", "_")


def member_questions(scorecard: Scorecard) -> FieldMap:
    """Every field the form asks, in form order: active member-level KPIs, then the CSF rating and comment."""
    fields = FieldMap()
    for perspective in scorecard.perspectives:
        for csf in perspective.csfs:
            for kpi in csf.kpis:
                if kpi.active and kpi.level == "member":
                    fields.add("kpi", kpi.key)
            fields.add("rating", csf.key)
            fields.add("comment", csf.key)
    return fields


@dataclass
class XlsForm:
    survey: list[dict[str, str]]
    choices: list[dict[str, str]]
    settings: dict[str, str]
    languages: list[str]
    fields: FieldMap

    def to_xlsx(self) -> bytes:
        book = Workbook()
        survey = book.active
        assert survey is not None
        survey.title = "survey"
        _write_sheet(
            survey,
            _columns(SURVEY_COLUMNS, self.languages, localized={"label", "hint", "constraint_message"}),
            self.survey,
        )
        _write_sheet(
            book.create_sheet("choices"),
            _columns(("list_name", "name", "label"), self.languages, localized={"label"}),
            self.choices,
        )
        settings = book.create_sheet("settings")
        settings.append(list(self.settings))
        settings.append(list(self.settings.values()))
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


def _columns(base: Sequence[str], languages: Sequence[str], *, localized: set[str]) -> list[str]:
    columns: list[str] = []
    for column in base:
        if column in localized:
            columns.extend(f"{column}::{language_column(lang)}" for lang in languages)
        else:
            columns.append(column)
    return columns


def _write_sheet(sheet: object, columns: list[str], rows: list[dict[str, str]]) -> None:
    used = [c for c in columns if any(row.get(c) for row in rows)]
    sheet.append(used)  # type: ignore[attr-defined]
    for row in rows:
        sheet.append([row.get(c, "") for c in used])  # type: ignore[attr-defined]


def build_xlsform(
    scorecards: Mapping[str, Scorecard], *, form_id: str, title: str, languages: Sequence[str]
) -> XlsForm:
    """`scorecards` holds the same effective scorecard once per language (the first is the default)."""
    langs = list(languages)
    default = scorecards[langs[0]]
    fields = member_questions(default)

    def labels(column: str, texts: Mapping[str, str | None]) -> dict[str, str]:
        return {f"{column}::{language_column(lang)}": texts[lang] or "" for lang in langs if texts.get(lang)}

    survey: list[dict[str, str]] = []
    for p_index, perspective in enumerate(default.perspectives):
        csf_rows: list[dict[str, str]] = []
        for c_index, csf in enumerate(perspective.csfs):
            for kpi in csf.kpis:
                if not (kpi.active and kpi.level == "member"):
                    continue
                texts = {lang: _kpi_text(scorecards[lang], kpi.key) for lang in langs}
                row = {"type": _KPI_TYPES[kpi.type], "name": fields.by_key[("kpi", kpi.key)], **labels("label", texts)}
                if kpi.unit:
                    row.update(labels("hint", {lang: _kpi(scorecards[lang], kpi.key).unit for lang in langs}))
                if kpi.type in ("count", "percent"):
                    message = "percent" if kpi.type == "percent" else "not_negative"
                    row["constraint"] = ". >= 0 and . <= 100" if kpi.type == "percent" else ". >= 0"
                    row.update(labels("constraint_message", {lang: word(message, lang) for lang in langs}))
                csf_rows.append(row)
            questions = {lang: scorecards[lang].perspectives[p_index].csfs[c_index].rating_question for lang in langs}
            csf_rows.append(
                {"type": "select_one scale", "name": fields.by_key[("rating", csf.key)], **labels("label", questions)}
            )
            csf_rows.append(
                {
                    "type": "text",
                    "name": fields.by_key[("comment", csf.key)],
                    **labels("label", {lang: word("comment", lang) for lang in langs}),
                }
            )
        titles = {lang: scorecards[lang].perspectives[p_index].title for lang in langs}
        survey.append({"type": "begin_group", "name": group_name(perspective.key), **labels("label", titles)})
        survey.extend(csf_rows)
        survey.append({"type": "end_group"})

    choices = [
        {"list_name": "yes_no", "name": value, **labels("label", {lang: word(value, lang) for lang in langs})}
        for value in ("yes", "no")
    ]
    for point in range(default.rating_min, default.rating_max + 1):
        texts = {
            lang: f"{point}: {scorecards[lang].rating_labels[point]}"
            if point in scorecards[lang].rating_labels and scorecards[lang].rating_labels[point] != str(point)
            else str(point)
            for lang in langs
        }
        choices.append({"list_name": "scale", "name": str(point), **labels("label", texts)})

    content = json.dumps([survey, choices], sort_keys=True, ensure_ascii=False).encode()
    settings = {
        "form_title": title,
        "form_id": form_id,
        # Changes whenever a question, label or choice changes, so Collect fetches the new form.
        "version": hashlib.sha256(content).hexdigest()[:12],
        "default_language": language_column(langs[0]),
    }
    return XlsForm(survey=survey, choices=choices, settings=settings, languages=langs, fields=fields)


_KPI_TYPES = {
    "yes_no": "select_one yes_no",
    "count": "integer",
    "number": "decimal",
    "percent": "decimal",
    "rating": "select_one scale",
    "text": "text",
}


def _kpi(scorecard: Scorecard, key: str) -> ScorecardKpi:
    kpi = scorecard.kpi(key)
    assert kpi is not None
    return kpi


def _kpi_text(scorecard: Scorecard, key: str) -> str:
    kpi = _kpi(scorecard, key)
    return kpi.question or kpi.title
