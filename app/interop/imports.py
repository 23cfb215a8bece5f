"""Pure parsing of answer imports: a table (CSV or XLSX) to one draft per row, with the row's problems.

Two layouts are recognised from the header:
- an ODK Central / KoboToolbox export of the XLSForm made by `logic.build_xlsform`: columns named like
  the form fields (`p_group/k_kpi_key`, or the bare `k_kpi_key`), mapped back with its `FieldMap`;
  meta columns (`meta/instanceID`, `KEY`, `SubmissionDate`, ...) are ignored;
- a plain table: one column per KPI key, `rating:<csf_key>` and `comment:<csf_key>`.
Either way a `participant_id` or `organisation` column says whose answers a row holds.
Nothing here touches the database: the service resolves participants and validates the values.
"""

import csv
import io
from dataclasses import dataclass, field

from openpyxl import load_workbook

from app.interop.logic import FieldMap
from app.interop.openrosa import SubmissionRejected, draft_from_values
from app.responses.schemas import AnswerIn, RatingIn, ResponseDraft

MAX_IMPORT_BYTES = 5_000_000
MAX_IMPORT_ROWS = 5000
PARTICIPANT_COLUMNS = ("participant_id", "organisation")


class ImportRejected(ValueError):
    """The file as a whole cannot be read (not a table, too large, no participant column)."""


@dataclass
class ImportRow:
    row: int  # as a spreadsheet numbers it: the header is row 1
    participant: str
    by_id: bool
    draft: ResponseDraft | None
    problems: list[str] = field(default_factory=list)


def read_table(content: bytes, filename: str) -> list[dict[str, str]]:
    """The rows of a CSV (UTF-8, comma, semicolon or tab separated) or of the first XLSX sheet."""
    if len(content) > MAX_IMPORT_BYTES:
        raise ImportRejected(f"The file is larger than {MAX_IMPORT_BYTES // 1_000_000} MB.")
    if filename.lower().endswith(".xlsx") or content[:2] == b"PK":
        rows = _xlsx_rows(content)
    else:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportRejected("The file is not UTF-8 text (save the CSV as UTF-8).") from None
        first = text.split("\n", 1)[0]
        delimiter = max(",;\t", key=first.count)
        rows = [list(r) for r in csv.reader(io.StringIO(text), delimiter=delimiter)]
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise ImportRejected("The file is empty.")
    header = [h.strip() for h in rows[0]]
    if len(rows) - 1 > MAX_IMPORT_ROWS:
        raise ImportRejected(f"The file has more than {MAX_IMPORT_ROWS} rows.")
    return [dict(zip(header, [c.strip() for c in r] + [""] * (len(header) - len(r)), strict=False)) for r in rows[1:]]


def _xlsx_rows(content: bytes) -> list[list[str]]:
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a file that is not a workbook
        raise ImportRejected("The file is not a readable XLSX workbook.") from None
    sheet = book.worksheets[0]
    rows: list[list[str]] = []
    for values in sheet.iter_rows(values_only=True):
        if len(rows) > MAX_IMPORT_ROWS + 1:
            break
        rows.append([_cell(v) for v in values])
    book.close()
    return rows


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_odk_export(columns: list[str], fields: FieldMap) -> bool:
    return any(fields.lookup(c.rsplit("/", 1)[-1]) is not None for c in columns)


def parse_rows(table: list[dict[str, str]], fields: FieldMap) -> list[ImportRow]:
    """One ImportRow per data row; problems found here are about the row's shape, not its values."""
    columns = list(table[0]) if table else []
    id_column = next((c for c in PARTICIPANT_COLUMNS if c in columns), None)
    if id_column is None:
        raise ImportRejected("The file needs a participant_id or organisation column.")
    odk = is_odk_export(columns, fields)
    if not odk:
        unknown = [
            c for c in columns if c not in PARTICIPANT_COLUMNS and not c.startswith(("rating:", "comment:")) and c
        ]
        known_kpis = {key for kind, key in fields.by_key if kind == "kpi"}
        strangers = [c for c in unknown if c not in known_kpis]
        if strangers:
            raise ImportRejected("Columns that are not questions of this round: " + ", ".join(strangers))
    parsed: list[ImportRow] = []
    for index, values in enumerate(table, start=2):
        who = values.get(id_column, "")
        row = ImportRow(row=index, participant=who, by_id=id_column == "participant_id", draft=None)
        if not who:
            row.problems.append(f"No {id_column} given.")
        try:
            row.draft = _odk_draft(values, fields) if odk else _plain_draft(values, row.problems)
        except SubmissionRejected as exc:
            row.problems.append(str(exc))
        parsed.append(row)
    return parsed


def _odk_draft(values: dict[str, str], fields: FieldMap) -> ResponseDraft:
    return draft_from_values(fields, {c.rsplit("/", 1)[-1]: v for c, v in values.items()}, include_blank=False)


def _plain_draft(values: dict[str, str], problems: list[str]) -> ResponseDraft:
    answers: list[AnswerIn] = []
    ratings: dict[str, dict[str, object]] = {}
    for column, raw in values.items():
        if column in PARTICIPANT_COLUMNS or not raw:
            continue
        if column.startswith("rating:"):
            key = column.removeprefix("rating:")
            try:
                ratings.setdefault(key, {})["rating"] = int(raw)
            except ValueError:
                problems.append(f"{column}: {raw!r} is not a point of the rating scale.")
        elif column.startswith("comment:"):
            ratings.setdefault(column.removeprefix("comment:"), {})["comment"] = raw[:2000]
        else:
            answers.append(AnswerIn(kpi_key=column, value=raw))
    # As in an ODK submission: a comment without a rating keeps the rating given before.
    return ResponseDraft(
        answers=answers, ratings=[RatingIn(csf_key=k, **given) for k, given in ratings.items() if "rating" in given]
    )
