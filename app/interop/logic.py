"""Pure mapping of a cluster's effective scorecard onto an XLSForm (survey, choices, settings).

Form field names must be valid XML names, scorecard keys are [a-z0-9][a-z0-9_-]*: a key becomes
a prefixed name with '-' replaced by '_' ("k_" for a KPI answer, "r_" for a CSF rating, "c_" for its
comment). Two keys that differ only by '-' versus '_' would collide, so names are handed out in
scorecard order with a numeric suffix on collision and the whole mapping is kept in `FieldMap`:
the same scorecard always gives the same names, and every name maps back to exactly one key.

Who answers is the top-level field `participant_id`: a hidden field holding the member's id in a
personal form, a required "Which member is this for?" list of the cluster's members in an
enumerator form (one staff device collecting for many members). Questions for firms only
(`asked_of: firms`) are left out of a personal form of an association or institute, and shown in an
enumerator form only when the member chosen is a firm (the members list says which are).

Every text a person wrote (scorecard labels, a member's proposed question, a round label, an
organisation's name) goes through `form_text`: characters XML cannot carry are dropped, `${`
(pyxform's reference syntax) is broken up, and `to_xlsx` writes every cell as text, so no cell is
ever a live spreadsheet formula.
"""

import hashlib
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from app.clusters.schemas import Scorecard, ScorecardKpi
from app.i18n.numbers import MACHINE, number_for_input
from app.i18n.translation import Msg, _l
from app.responses.logic import MAX_TEXT, AnswerRejected, coerce_answer
from app.scorecards import values

FieldKind = Literal["kpi", "rating", "comment"]
RESPONDENT_FIELD = "participant_id"
END_FIELD = "end"  # ODK's metadata: when the form was finished on the device

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
    "ar": "Arabic",
}
_PREFIX: dict[FieldKind, str] = {"kpi": "k_", "rating": "r_", "comment": "c_"}

# Words the form needs besides the scorecard's own text, translated with the interface's catalogues.
YES, NO = _l("Yes"), _l("No")
COMMENT = _l("Comment (optional)")
WHICH_MEMBER = _l("Which member is this for?")
CHOOSE_MEMBER = _l("Please choose the member whose answers these are.")

SURVEY_COLUMNS = (
    "type",
    "name",
    "label",
    "hint",
    "appearance",
    "required",
    "required_message",
    "relevant",
    "constraint",
    "constraint_message",
    "default",
)
CHOICE_COLUMNS = ("list_name", "name", "label", "firm")
LOCALIZED_COLUMNS = {"label", "hint", "constraint_message", "required_message"}

# Characters XML 1.0 cannot carry, and C1 controls, which no one types on purpose; tab and newline stay.
_NOT_TEXT = re.compile("[^\t\n\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# What a spreadsheet would start a formula with when someone edits the cell.
_FORMULA_START = ("=", "+", "-", "@")


def form_text(text: str | None) -> str:
    """A person's text made safe for a form: no control characters, no pyxform `${reference}`."""
    return _NOT_TEXT.sub("", text or "").replace("\r", "").replace("${", "$ {").strip()


def text_problems(texts: Mapping[str, str | None]) -> list[dict[str, str]]:
    """Why a person's texts (by field) cannot go into an ODK form as written: {field, message} each."""
    problems = []
    for name, text in texts.items():
        if text and _NOT_TEXT.search(text):
            problems.append(
                {"field": name, "message": _l("It contains invisible control characters: please retype it.")}
            )
        if text and "${" in text:
            message = _l('ODK forms read ${...} as a reference to another question: please write it without "${".')
            problems.append({"field": name, "message": message})
    return problems


def language_column(lang: str) -> str:
    """The XLSForm way of naming a language: 'English (en)'."""
    return f"{LANGUAGE_NAMES.get(lang, lang)} ({lang})"


def in_language(message: Msg, lang: str) -> str:
    """An interface message in a form language ('pt-BR' uses the 'pt' catalogue; unknown ones, English)."""
    return message.localized(lang.split("-")[0])


def xpath_literal(text: str) -> str:
    """A string literal for an XPath expression; XPath 1.0 has no escapes, so quotes need concat()."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ', "\'", '.join(f"'{part}'" for part in text.split("'")) + ")"


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

    def is_unambiguous(self, name: str) -> bool:
        """True when the name would map to the same key whatever other keys the scorecard had: it got
        no collision suffix and no other key of this scorecard writes to the same base name."""
        entry = self.by_name.get(name)
        if entry is None:
            return False
        kind, key = entry
        base = _PREFIX[kind] + key.replace("-", "_")
        return name == base and f"{base}_2" not in self.by_name


def group_name(key: str) -> str:
    return "p_" + key.replace("-", "_")


def member_questions(scorecard: Scorecard, member: "Member | None" = None) -> FieldMap:
    """Every field the form asks, in form order: active member-level KPIs (those asked of `member`, when the
    form is theirs), then the CSF rating and comment."""
    fields = FieldMap()
    for perspective in scorecard.perspectives:
        for csf in perspective.csfs:
            for kpi in csf.kpis:
                if _asked(scorecard, kpi, member):
                    fields.add("kpi", kpi.key)
            fields.add("rating", csf.key)
            fields.add("comment", csf.key)
    return fields


@dataclass(frozen=True)
class Member:
    """A participant as a form names them."""

    id: int
    organisation: str
    person_name: str = ""
    firm: bool = True

    @property
    def label(self) -> str:
        name = form_text(self.organisation)
        person = form_text(self.person_name)
        return f"{name} ({person})" if person else name


@dataclass(frozen=True)
class Respondent:
    """Who a form is for: one member (`member`, a personal form) or any of `members` (an enumerator form)."""

    member: Member | None = None
    members: tuple[Member, ...] = ()


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
        _write_sheet(survey, _columns(SURVEY_COLUMNS, self.languages), self.survey)
        _write_sheet(book.create_sheet("choices"), _columns(CHOICE_COLUMNS, self.languages), self.choices)
        _write_sheet(book.create_sheet("settings"), list(self.settings), [self.settings])
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()

    def labels_of(self, name: str) -> list[str]:
        """Every label of a survey row, in every language (an export may use any of them as its header)."""
        row = next((r for r in self.survey if r.get("name") == name), {})
        return [text for column, text in row.items() if column.startswith("label::") and text]

    def choice_names(self, list_name: str) -> dict[str, str]:
        """Choice name by every way an export may write it: the name itself, or a label in any language."""
        names: dict[str, str] = {}
        for row in self.choices:
            if row["list_name"] == list_name:
                names[row["name"]] = row["name"]
                for column, text in row.items():
                    if column.startswith("label::") and text:
                        names.setdefault(text, row["name"])
        return names

    def list_of(self, name: str) -> str | None:
        """The choice list a select_one field takes its answers from."""
        row = next((r for r in self.survey if r.get("name") == name), {})
        kind, _, list_name = row.get("type", "").partition(" ")
        return list_name if kind == "select_one" else None


def _columns(base: Sequence[str], languages: Sequence[str]) -> list[str]:
    columns: list[str] = []
    for column in base:
        if column in LOCALIZED_COLUMNS:
            columns.extend(f"{column}::{language_column(lang)}" for lang in languages)
        else:
            columns.append(column)
    return columns


def _write_sheet(sheet: Worksheet, columns: list[str], rows: list[dict[str, str]]) -> None:
    used = [c for c in columns if any(row.get(c) for row in rows)]
    sheet.append(used)
    for row in rows:
        sheet.append([row.get(c, "") for c in used])
    # openpyxl writes a string starting with "=" as a formula: every cell here is text. quotePrefix is
    # what Excel itself sets for text typed after an apostrophe, so editing the cell keeps it text too.
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"
                if cell.value.startswith(_FORMULA_START):
                    cell.quotePrefix = True


@dataclass(frozen=True)
class Constraint:
    """A rule of the server's for one kind of answer, as an XLSForm constraint."""

    expression: str
    refused: str  # a value the server refuses by this rule: its message is the form's message


CONSTRAINTS: dict[str, Constraint] = {
    "text": Constraint(f"string-length(.) <= {MAX_TEXT}", "x" * (MAX_TEXT + 1)),
}


def constraint_of(kpi: ScorecardKpi) -> Constraint | None:
    """The server's rule for the KPI's answers: its range (app.scorecards.values) for numbers, the length of a
    text. The value it refuses below the range carries the message (above it, the same for a narrowed
    range; the default ranges' upper limits are beyond what anyone types)."""
    if kpi.type in values.AMOUNTS and kpi.min is not None and kpi.max is not None:
        low, high = _plain(kpi.min), _plain(kpi.max)
        refused = _plain(kpi.min - 1) if kpi.type != "percent" or kpi.min > 0 else _plain(kpi.max + 1)
        return Constraint(f". >= {low} and . <= {high}", refused)
    return CONSTRAINTS.get(kpi.type)


def _plain(number: float) -> str:
    """A number as XPath and ODK write it: digits and a point, no exponent."""
    return number_for_input(number, MACHINE)


def kpi_of_type(kpi_type: str) -> ScorecardKpi:
    """A member-level KPI of this type, to ask the server's rules about a value."""
    bounds = values.answer_range(kpi_type, None, None)
    return ScorecardKpi(
        key="probe",
        csf_key="probe",
        title="probe",
        level="member",
        question=None,
        type=kpi_type,
        unit=None,
        direction="increase",
        aggregate=None,
        per_member=False,
        is_custom=False,
        active=True,
        baseline=None,
        target=None,
        weight=1.0,
        min=bounds[0] if bounds else None,
        max=bounds[1] if bounds else None,
    )


def server_message(kpi: ScorecardKpi, constraint: Constraint) -> Msg:
    """What the server says about a value its rule refuses, so the form says exactly the same."""
    try:
        coerce_answer(kpi, constraint.refused, locale=MACHINE)
    except AnswerRejected as exc:
        return exc.message
    raise AssertionError(f"the server accepts what the form refuses for {kpi.key}")


_KPI_TYPES = {
    "yes_no": "select_one yes_no",
    "count": "integer",
    "number": "decimal",
    "percent": "decimal",
    "rating": "select_one scale",
    "text": "text",
}


def build_xlsform(
    scorecards: Mapping[str, Scorecard],
    *,
    form_id: str,
    title: str,
    round_label: str,
    languages: Sequence[str],
    respondent: Respondent,
) -> XlsForm:
    """`scorecards` holds the same effective scorecard once per language (the first is the default)."""
    langs = list(languages)
    default = scorecards[langs[0]]
    fields = member_questions(default, respondent.member)

    def labels(column: str, texts: Mapping[str, str | None]) -> dict[str, str]:
        cleaned = {lang: form_text(texts.get(lang)) for lang in langs}
        return {f"{column}::{language_column(lang)}": text for lang, text in cleaned.items() if text}

    def message(column: str, msg: Msg) -> dict[str, str]:
        return labels(column, {lang: in_language(msg, lang) for lang in langs})

    # `end`: when the member finished the form on the device; an older edit does not overwrite newer answers.
    survey: list[dict[str, str]] = [_respondent_row(respondent, message), {"type": "end", "name": END_FIELD}]
    for p_index, perspective in enumerate(default.perspectives):
        csf_rows: list[dict[str, str]] = []
        for c_index, csf in enumerate(perspective.csfs):
            for kpi in csf.kpis:
                if not _asked(default, kpi, respondent.member):
                    continue
                kpis = {lang: _kpi(scorecards[lang], kpi.key) for lang in langs}
                row = {
                    "type": _KPI_TYPES[kpi.type],
                    "name": fields.by_key[("kpi", kpi.key)],
                    **labels("label", {lang: k.question or k.title for lang, k in kpis.items()}),
                }
                if kpi.type != "yes_no":  # a yes/no answer has no unit; its share of yeses does ("%")
                    row.update(labels("hint", {lang: k.unit for lang, k in kpis.items()}))
                if respondent.member is None and kpi.asked_of == "firms":
                    row["relevant"] = FIRM_CHOSEN
                constraint = constraint_of(kpi)
                if constraint is not None:
                    row["constraint"] = constraint.expression
                    row.update(message("constraint_message", server_message(kpi, constraint)))
                csf_rows.append(row)
            questions = {lang: scorecards[lang].perspectives[p_index].csfs[c_index].rating_question for lang in langs}
            rating = {"type": "select_one scale", "name": fields.by_key[("rating", csf.key)]}
            csf_rows.append({**rating, **labels("label", questions)})
            csf_rows.append(
                {
                    "type": "text",
                    "name": fields.by_key[("comment", csf.key)],
                    **message("label", COMMENT),
                    "constraint": CONSTRAINTS["text"].expression,
                    **message("constraint_message", server_message(kpi_of_type("text"), CONSTRAINTS["text"])),
                }
            )
        titles = {lang: scorecards[lang].perspectives[p_index].title for lang in langs}
        survey.append({"type": "begin_group", "name": group_name(perspective.key), **labels("label", titles)})
        survey.extend(csf_rows)
        survey.append({"type": "end_group"})

    choices = [
        {"list_name": "yes_no", "name": value, **message("label", text)} for value, text in (("yes", YES), ("no", NO))
    ]
    for point in range(default.rating_min, default.rating_max + 1):
        texts = {lang: scorecards[lang].rating_labels.get(point) for lang in langs}
        points = {
            lang: f"{point}: {text}" if text and text != str(point) else str(point) for lang, text in texts.items()
        }
        choices.append({"list_name": "scale", "name": str(point), **labels("label", points)})
    if respondent.member is None:
        for member in respondent.members:
            names = labels("label", dict.fromkeys(langs, member.label))
            firm = "yes" if member.firm else "no"
            choices.append({"list_name": "members", "name": str(member.id), **names, "firm": firm})

    settings = {
        "form_title": form_text(title),
        "form_id": form_id,
        "instance_name": _instance_name(respondent, form_text(round_label)),
        "default_language": language_column(langs[0]),
    }
    content = json.dumps([survey, choices, settings], sort_keys=True, ensure_ascii=False).encode()
    # Changes whenever a question, label, choice or member changes, so Collect fetches the new form.
    settings["version"] = hashlib.sha256(content).hexdigest()[:12]
    return XlsForm(survey=survey, choices=choices, settings=settings, languages=langs, fields=fields)


# In an enumerator form, whether the member chosen is a firm: the members list carries it.
FIRM_CHOSEN = f"instance('members')/root/item[name=${{{RESPONDENT_FIELD}}}]/firm = 'yes'"


def _asked(scorecard: Scorecard, kpi: ScorecardKpi, member: Member | None) -> bool:
    """Whether the form asks this KPI: of its member, or (an enumerator form) of any member it may apply to."""
    return scorecard.asks(kpi, "firm" if member is None or member.firm else "other")


def _respondent_row(respondent: Respondent, message: Callable[[str, Msg], dict[str, str]]) -> dict[str, str]:
    if respondent.member is not None:
        return {"type": "hidden", "name": RESPONDENT_FIELD, "default": str(respondent.member.id)}
    return {
        "type": "select_one members",
        "name": RESPONDENT_FIELD,
        **message("label", WHICH_MEMBER),
        # "autocomplete" is ODK's select_one with a search box (Collect also calls it "search"); Enketo,
        # the web forms of Central and KoboToolbox, knows only this name.
        "appearance": "autocomplete",
        "required": "yes",
        **message("required_message", CHOOSE_MEMBER),
    }


def _instance_name(respondent: Respondent, round_label: str) -> str:
    """What Collect lists a filled form as: the member's organisation and the round."""
    suffix = xpath_literal(f" \u2013 {round_label}")
    if respondent.member is not None:
        return xpath_literal(respondent.member.label + f" \u2013 {round_label}")
    return f"concat(jr:choice-name(${{{RESPONDENT_FIELD}}}, '${{{RESPONDENT_FIELD}}}'), {suffix})"


def _kpi(scorecard: Scorecard, key: str) -> ScorecardKpi:
    kpi = scorecard.kpi(key)
    assert kpi is not None
    return kpi
