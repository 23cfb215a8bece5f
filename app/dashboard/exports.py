"""A round's scores, answers, notes and action plan as files for people: CSV and XLSX.

For reading, not for computing further (the JSON API keeps full precision): scores rounded to two decimals,
yes/no in the reader's words, and numbers as the reader writes them (a CSV in a locale whose decimal mark is a
comma is separated by semicolons, as its spreadsheets expect). In XLSX, numbers are numbers and dates are
dates. Cells a spreadsheet would run as a formula are defused.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

from openpyxl import Workbook
from openpyxl.styles import Font

from app.dashboard.service import SessionView
from app.i18n.numbers import number_for_input
from app.i18n.terms import term
from app.i18n.translation import _l, get_format_locale
from app.reflection.models import ActionItem, ReflectionNote

Row = dict[str, object]
Sheet = tuple[str, Sequence[str], list[Row]]

ANSWER_COLUMNS = (
    "round",
    "participant_id",
    "organisation",
    "organisation_type",
    "submitted_at",
    "kind",
    "key",
    "title",
    "value",
    "comment",
)
SCORE_COLUMNS = (
    "round",
    "level",
    "key",
    "title",
    "score",
    "status",
    "value",
    "baseline",
    "target",
    "ratings",
    "disagreement",
    "illustrative",
)
WHO_COLUMNS = ("participant_id", "organisation", "organisation_type", "submitted_at")
NOTE_COLUMNS = ("round", "success_factor", "note")
ACTION_COLUMNS = ("agreed_in", "action", "owner", "due_date", "status", "success_factor")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def score_rows(view: SessionView) -> list[Row]:
    """Overall, perspective, CSF and KPI scores of the round, one row each, to two decimals."""
    current = view.current.scores
    label = view.round.label
    rows: list[Row] = [
        {
            "round": label,
            "level": "overall",
            "key": "",
            "title": "",
            "score": _rounded(current.overall.value),
            "status": current.overall.status,
        },
    ]
    for perspective in view.scorecard.perspectives:
        score = current.perspectives[perspective.key].score
        rows.append(
            {
                "round": label,
                "level": "perspective",
                "key": perspective.key,
                "title": perspective.title,
                "score": _rounded(score.value),
                "status": score.status,
            }
        )
    for topic in view.topics:
        rows.append(
            {
                "round": label,
                "level": "csf",
                "key": topic.key,
                "title": topic.title,
                "score": _rounded(topic.score),
                "status": topic.status,
                "ratings": topic.ratings,
                "disagreement": _rounded(topic.disagreement),
            }
        )
    for kpi in view.kpis:
        figures = (kpi.value, kpi.baseline, kpi.target)
        value, baseline, target = (_yes_no(x) if kpi.yes_no else _rounded(x) for x in figures)
        rows.append(
            {
                "round": label,
                "level": "kpi",
                "key": kpi.key,
                "title": kpi.title,
                "score": _rounded(kpi.achievement),
                "status": kpi.status,
                "value": value,
                "baseline": baseline,
                "target": target,
                "illustrative": kpi.illustrative,
            }
        )
    return rows


def _yes_no(value: float | None) -> bool | None:
    return None if value is None else value == 1


def wide_answers(rows: Iterable[Row], kpi_keys: Sequence[str], csf_keys: Sequence[str]) -> tuple[list[str], list[Row]]:
    """The answers one row per member, one column per question, as KoboToolbox and ODK export them (and as a
    plain import table reads them back): KPI keys, then `rating:<csf>` and `comment:<csf>`."""
    columns = [*WHO_COLUMNS, *kpi_keys]
    for key in csf_keys:
        columns += [f"rating:{key}", f"comment:{key}"]
    members: dict[object, Row] = {}
    for row in rows:
        member = members.setdefault(row["participant_id"], {c: row[c] for c in WHO_COLUMNS})
        if row["kind"] == "kpi":
            member[str(row["key"])] = row["value"]
        else:
            member[f"rating:{row['key']}"] = row["value"]
            member[f"comment:{row['key']}"] = row["comment"]
    return columns, list(members.values())


def note_rows(notes: Iterable[ReflectionNote], *, round_label: str, csf_titles: dict[str, str]) -> list[Row]:
    return [
        {"round": round_label, "success_factor": csf_titles.get(n.csf_key or "", n.csf_key or ""), "note": n.text}
        for n in notes
    ]


def action_rows(
    actions: Iterable[ActionItem], *, round_labels: dict[int, str], csf_titles: dict[str, str]
) -> list[Row]:
    return [
        {
            "agreed_in": round_labels.get(a.round_id, ""),
            "action": a.title,
            "owner": a.owner,
            "due_date": a.due_date,
            "status": term(a.status, "status"),
            "success_factor": csf_titles.get(a.csf_key or "", a.csf_key or ""),
        }
        for a in actions
    ]


def spreadsheet_safe(value: object) -> object:
    """Members' free text must not become a formula when the facilitator opens the file (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _for_people(value: object) -> object:
    """yes/no as the reader's words; everything else as it is."""
    if isinstance(value, bool):
        return (_l("Yes") if value else _l("No")).localized()
    return value


def csv_text(columns: Sequence[str], rows: Iterable[Row]) -> str:
    """CSV with a header row, numbers and words as the reader (the current locale) writes them."""
    locale = get_format_locale()
    comma_decimals = number_for_input(0.5, locale) == "0,5"
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if comma_decimals else ",")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c), locale) for c in columns])
    return buffer.getvalue()


def _csv_cell(value: object, locale: str) -> object:
    value = _for_people(value)
    if isinstance(value, float):
        return number_for_input(value, locale)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return spreadsheet_safe(value)


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    """One worksheet per (name, columns, rows), header in bold and frozen; numbers and dates as such."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, columns, rows in sheets:
        sheet = workbook.create_sheet(title=name[:31])
        sheet.append(list(columns))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
        for row in rows:
            sheet.append([_xlsx_cell(row.get(c)) for c in columns])
        for cells in sheet.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
                elif isinstance(cell.value, date):
                    cell.number_format = "yyyy-mm-dd"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _xlsx_cell(value: object) -> object:
    value = _for_people(value)
    if isinstance(value, datetime):
        # Spreadsheets have no time zones: the time in UTC, as the column says.
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return spreadsheet_safe(value)
