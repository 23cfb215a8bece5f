"""Pure parsing of answer imports: an export (CSV, XLSX or ODK Central's .csv.zip) to one draft per row.

The layout is recognised from the columns:
- ODK Central's CSV export, with group names (`p_financial-k_business_plan`, `meta-instanceID`) or
  without (`k_business_plan`), and its metadata (`SubmissionDate`, `KEY`, `ReviewState`, ...); its
  `.csv.zip` holds that CSV (and one CSV per repeat, which ClusterScore's forms do not have);
- KoboToolbox's CSV (`;`-separated) and XLSX exports, with XML names (`p_financial/k_business_plan`)
  or labels as headers, and its metadata (`_uuid`, `_submission_time`, `_validation_status`, ...);
- any other export of ClusterScore's XLSForm: columns named like its fields;
- ClusterScore's own table: one column per KPI key, `rating:<csf_key>` and `comment:<csf_key>`.
Either way `participant_id` (the form's "Which member is this for?") or `organisation` says whose
answers a row holds. Nothing here touches the database: the service resolves participants, picks
the newest submission of each member, checks the values and writes.
"""

import csv
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from openpyxl import load_workbook

from app.clusters.models import Participant
from app.errors import AppError, InvalidInput
from app.i18n.numbers import MACHINE
from app.i18n.translation import Msg, _l
from app.interop.logic import RESPONDENT_FIELD, FieldMap, XlsForm
from app.interop.openrosa import draft_from_values, instance_key, located
from app.responses.schemas import AnswerIn, RatingIn, ResponseDraft

MAX_IMPORT_BYTES = 5_000_000
MAX_IMPORT_ROWS = 5000
PARTICIPANT_COLUMNS = ("participant_id", "organisation")
# Written by ClusterScore's one-row-per-member export (dashboard.exports.WHO_COLUMNS), so that it imports back.
DESCRIPTIVE_COLUMNS = ("organisation_type", "submitted_at")

# ODK Central's metadata columns (lib/data/briefcase.js) and KoboToolbox's (kpi's export "copy fields").
CENTRAL_COLUMNS = {
    "SubmissionDate",
    "KEY",
    "SubmitterID",
    "SubmitterName",
    "AttachmentsPresent",
    "AttachmentsExpected",
    "Status",
    "ReviewState",
    "DeviceID",
    "Edits",
    "FormVersion",
}
KOBO_COLUMNS = {
    "_id",
    "_uuid",
    "_submission_time",
    "_validation_status",
    "_notes",
    "_status",
    "_submitted_by",
    "__version__",
    "_tags",
    "_index",
}
# The form's own metadata, under any group separator: meta/instanceID, meta-instanceName, formhub/uuid.
FORM_META = {"instanceID", "instanceName", "deprecatedID", "rootUuid", "uuid", "start", "end", "today", "deviceid"}
# The current version's instanceID first: an edit in Central or Kobo changes it (KEY keeps the first one).
INSTANCE_COLUMNS = ("meta-instanceID", "meta/instanceID", "instanceID", "_uuid", "KEY")
TIME_COLUMNS = ("SubmissionDate", "_submission_time")
Source = Literal["central", "kobo", "form"]


class ImportRejected(InvalidInput):
    """The file as a whole cannot be read (not a table, too large, no participant column)."""


@dataclass
class Table:
    """The header and the rows (each as long as the header). A header may repeat: KoboToolbox's labels
    export names every comment column "Comment (optional)"."""

    columns: list[str]
    rows: list[list[str]]
    kind: Literal["csv", "xlsx", "zip"]
    ignored_files: list[str] = field(default_factory=list)

    def get(self, cells: list[str], column: str) -> str:
        """The cell of the first column with this name, or ""."""
        return cells[self.columns.index(column)] if column in self.columns else ""


def read_table(content: bytes, filename: str) -> Table:
    """The rows of a CSV (UTF-8, separated by `,` `;` or tab), of the first XLSX sheet, or of the main
    CSV in ODK Central's .csv.zip."""
    if len(content) > MAX_IMPORT_BYTES:
        raise ImportRejected("The file is larger than %(size)s MB.", size=MAX_IMPORT_BYTES // 1_000_000)
    ignored: list[str] = []
    kind: Literal["csv", "xlsx", "zip"] = "csv"
    if content[:2] == b"PK":
        archive = _zip(content)
        if "[Content_Types].xml" in archive.namelist():
            kind, rows = "xlsx", _xlsx_rows(content)
        else:
            kind = "zip"
            _name, content = _main_csv(archive, ignored)
            rows = _csv_rows(content)
    else:
        rows = _csv_rows(content)
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise ImportRejected("The file is empty.")
    if len(rows) - 1 > MAX_IMPORT_ROWS:
        raise ImportRejected("The file has more than %(rows)s rows.", rows=MAX_IMPORT_ROWS)
    header = [h.strip() for h in rows[0]]
    cells = [([c.strip() for c in r] + [""] * len(header))[: len(header)] for r in rows[1:]]
    return Table(columns=header, rows=cells, kind=kind, ignored_files=ignored)


def _zip(content: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise ImportRejected("The file is neither a readable XLSX workbook nor a ZIP file.") from None


def _main_csv(archive: zipfile.ZipFile, ignored: list[str]) -> tuple[str, bytes]:
    """ODK Central's .csv.zip: `<form>.csv`, and one `<form>-<repeat>.csv` per repeat group (with a
    PARENT_KEY column), which ClusterScore's forms do not have: those and any media are left aside."""
    main: list[tuple[str, bytes]] = []
    for info in archive.infolist():
        if info.is_dir():
            continue
        if not info.filename.lower().endswith(".csv") or info.file_size > MAX_IMPORT_BYTES:
            ignored.append(info.filename)
            continue
        content = archive.read(info)
        if b"PARENT_KEY" in content.split(b"\n", 1)[0]:
            ignored.append(info.filename)
        else:
            main.append((info.filename, content))
    if not main:
        raise ImportRejected("The ZIP file holds no CSV of submissions.")
    if len(main) > 1:
        raise ImportRejected(
            "The ZIP file holds several CSV files of submissions (%(files)s): import them one at a time.",
            files=", ".join(name for name, _ in main),
        )
    return main[0]


def _csv_rows(content: bytes) -> list[list[str]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected("The file is not UTF-8 text (save the CSV as UTF-8).") from None
    first = text.split("\n", 1)[0]
    # The separator that splits the header into the most columns (KoboToolbox uses ';', and its labels
    # may hold commas).
    delimiter = max(",;\t", key=lambda d: len(next(csv.reader([first], delimiter=d), [])))
    try:
        return [list(r) for r in csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)]
    except csv.Error as exc:
        raise ImportRejected("The CSV file cannot be read: %(problem)s.", problem=str(exc)) from None


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
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@dataclass
class ImportRow:
    row: int  # as a spreadsheet numbers it: the header is row 1
    who: str  # the participant as the file names them
    key: str  # what names them here: a participant id (by_id) or an organisation
    by_id: bool
    values: dict[str, str]
    instance_id: str | None = None
    submitted_at: datetime | None = None
    draft: ResponseDraft | None = None
    problems: list[Msg] = field(default_factory=list)  # of the values: reported if this row is the one imported
    notes: list[Msg] = field(default_factory=list)
    reasons: list[Msg] = field(default_factory=list)  # why the row is skipped
    participant: Participant | None = None
    accepted: bool = False
    locale: str = MACHINE
    """How its numbers are written: as software writes them in an export, as the importer does in a table."""
    form_fields: FieldMap | None = None  # an export of the form: problems name its fields, as its columns do

    @property
    def skipped(self) -> bool:
        return bool(self.reasons)

    def skip(self, reason: Msg) -> None:
        self.reasons.append(reason)

    def skip_older(self, newest: int) -> None:
        self.skip(_l("An older submission of this member: row %(row)s is newer and is the one imported.", row=newest))

    def accept(self) -> None:
        """Imported, unless its values have problems (then those are why it is skipped)."""
        if self.problems or self.draft is None:
            self.reasons.extend(self.problems)
        else:
            self.accepted = True

    @property
    def digest(self) -> str:
        """The row's content, to recognise the same row when a file is imported again."""
        return hashlib.sha256(json.dumps([self.who, sorted(self.values.items())]).encode()).hexdigest()

    @property
    def instance_key(self) -> str:
        return instance_key(self.instance_id) if self.instance_id else f"row:{self.digest}"[:100]

    def field_label(self, location: str) -> str:
        """A check_draft problem's field as the file names it: the form field of an export, else the KPI key
        or 'rating:<csf key>' of ClusterScore's table."""
        assert self.draft is not None
        kind, key = located(self.draft, location)
        if self.form_fields is not None:
            return self.form_fields.by_key[(kind, key)]
        return key if kind == "kpi" else f"rating:{key}"


@dataclass
class ImportReport:
    format: Msg
    columns: dict[str, str]  # how the file's metadata columns were read
    ignored_columns: list[str]
    ignored_files: list[str]
    rows: list[ImportRow] = field(default_factory=list)
    written: bool = False

    def finish(self, rows: list[ImportRow], *, written: bool) -> "ImportReport":
        self.rows = rows
        self.written = written
        return self

    def as_json(self) -> dict[str, object]:
        accepted = sum(1 for row in self.rows if row.accepted)
        return {
            "format": self.format,
            "rows": len(self.rows),
            "accepted": accepted,
            "skipped": len(self.rows) - accepted,
            "written": self.written,
            "columns": self.columns,
            "ignored_columns": self.ignored_columns,
            "ignored_files": self.ignored_files,
            "report": [
                {
                    "row": row.row,
                    "participant": row.who,
                    "instance_id": row.instance_id,
                    "outcome": "accepted" if row.accepted else "skipped",
                    "reasons": row.reasons,
                    "notes": row.notes,
                }
                for row in self.rows
            ],
        }


FORMATS: dict[tuple[str, str], Msg] = {
    ("central", "groups"): _l("ODK Central CSV export, group names in the headers"),
    ("central", "names"): _l("ODK Central CSV export without group names"),
    ("central-zip", "groups"): _l("ODK Central .csv.zip export, group names in the headers"),
    ("central-zip", "names"): _l("ODK Central .csv.zip export without group names"),
    ("kobo-csv", "names"): _l("KoboToolbox CSV export, XML values and headers"),
    ("kobo-csv", "labels"): _l("KoboToolbox CSV export, labels as headers"),
    ("kobo-xlsx", "names"): _l("KoboToolbox XLSX export, XML values and headers"),
    ("kobo-xlsx", "labels"): _l("KoboToolbox XLSX export, labels as headers"),
    ("form", "names"): _l("Data of ClusterScore's XLSForm: its field names as headers"),
    ("form", "labels"): _l("Data of ClusterScore's XLSForm: its labels as headers"),
    ("table", "names"): _l("ClusterScore table: participant, KPI keys, rating: and comment: columns"),
}


def _source(table: Table) -> Source:
    columns = set(table.columns)
    if {"SubmissionDate", "KEY"} <= columns:
        return "central"
    if columns & {"_uuid", "_submission_time", "_validation_status"}:
        return "kobo"
    return "form"


def _format(source: Source, table: Table, headers: str) -> Msg:
    if source == "central":
        return FORMATS[("central-zip" if table.kind == "zip" else "central", headers)]
    if source == "kobo":
        return FORMATS[("kobo-xlsx" if table.kind == "xlsx" else "kobo-csv", headers)]
    return FORMATS[(source, headers)]


def _by_name(columns: list[str], form: XlsForm) -> dict[int, str]:
    """Column (by position) -> form field, for headers that are field names, with or without their groups."""
    mapped = {}
    for index, column in enumerate(columns):
        name = re.split("[/-]", column)[-1]
        if form.fields.lookup(name) is not None or name == RESPONDENT_FIELD:
            mapped[index] = name
    return mapped


def _by_label(columns: list[str], form: XlsForm) -> dict[int, str]:
    """Column (by position) -> form field, for headers that are labels (KoboToolbox's "Labels" export),
    possibly after group labels and '/'. Labels repeat (every comment is "Comment (optional)"), so columns
    are matched in form order, as the export writes them."""
    fields = [
        (row["name"], set(form.labels_of(row["name"])))
        for row in form.survey
        if row.get("name") and row["type"] != "begin_group"
    ]
    mapped: dict[int, str] = {}
    start = 0
    for position, column in enumerate(columns):
        candidates = {column} | {column.split("/", n)[-1] for n in range(1, column.count("/") + 1)}
        for index in range(start, len(fields)):
            name, labels = fields[index]
            if labels & candidates:
                mapped[position], start = name, index + 1
                break
    return mapped


def _is_metadata(column: str) -> bool:
    return (
        column in CENTRAL_COLUMNS
        or column in KOBO_COLUMNS
        or column.startswith("_")
        or re.split("[/-]", column)[-1] in FORM_META
        or column.startswith(("meta-", "meta/", "formhub"))
    )


@dataclass
class Reading:
    """How a file's columns are read: the field each answers (by position), whose answers a row holds,
    the metadata columns, and each select's answers by how the file may write them."""

    fields: dict[int, str]
    who: int
    by_organisation: bool
    meta: dict[str, str]
    choices: dict[str, dict[str, str]]


def parse_rows(table: Table, form: XlsForm, *, locale: str) -> tuple[ImportReport, list[ImportRow]]:
    """One ImportRow per data row, with what the row says (who, which submission, its review state, its
    values mapped onto the form) and what is wrong with it; the participant is resolved by the service.
    `locale`: how the importer writes numbers, for ClusterScore's table in a CSV (a spreadsheet's number
    cells, and an export's numbers, are written as software writes them)."""
    source = _source(table)
    names, labels = _by_name(table.columns, form), _by_label(table.columns, form)
    if source == "form" and not set(names.values()) - {RESPONDENT_FIELD} and not labels:
        return _parse_table(table, form, locale=MACHINE if table.kind == "xlsx" else locale)
    headers, fields = ("labels", labels) if len(labels) > len(names) else ("names", names)
    if source == "central":
        headers = "groups" if any(table.columns[i] != name for i, name in fields.items()) else "names"
    reading = _reading(table, form, fields)
    unused = [
        c for i, c in enumerate(table.columns) if c and i not in fields and i != reading.who and not _is_metadata(c)
    ]
    report = ImportReport(
        format=_format(source, table, headers),
        columns={**{k: v for k, v in reading.meta.items() if v}, "participant": table.columns[reading.who]},
        ignored_columns=unused,
        ignored_files=table.ignored_files,
    )
    rows = [_row(table, form, reading, number, cells) for number, cells in enumerate(table.rows, start=2)]
    return report, rows


def _reading(table: Table, form: XlsForm, fields: dict[int, str]) -> Reading:
    who = next((i for i, name in fields.items() if name == RESPONDENT_FIELD), None)
    by_organisation = who is None and "organisation" in table.columns
    if by_organisation:
        who = table.columns.index("organisation")
    if who is None:
        raise ImportRejected(
            "The file does not say whose answers each row holds: it needs the form's participant_id "
            '("Which member is this for?") or an organisation column.'
        )
    meta = {
        "instance_id": next((c for c in INSTANCE_COLUMNS if c in table.columns), ""),
        "submitted_at": next((c for c in TIME_COLUMNS if c in table.columns), ""),
        "review_state": next((c for c in ("ReviewState", "_validation_status") if c in table.columns), ""),
    }
    lists = {name: form.list_of(name) for name in fields.values()}
    choices = {name: form.choice_names(list_name) for name, list_name in lists.items() if list_name}
    return Reading(fields=fields, who=who, by_organisation=by_organisation, meta=meta, choices=choices)


def _row(table: Table, form: XlsForm, reading: Reading, number: int, cells: list[str]) -> ImportRow:
    written = cells[reading.who]
    # A select's answer as its choice name: label exports write the choice's label instead.
    values = {name: reading.choices.get(name, {}).get(cells[i], cells[i]) for i, name in reading.fields.items()}
    key = written if reading.by_organisation else values.pop(RESPONDENT_FIELD)
    row = ImportRow(
        row=number,
        who=written,
        key=key,
        by_id=not reading.by_organisation,
        values={name: cells[i] for i, name in reading.fields.items() if name != RESPONDENT_FIELD},
        instance_id=table.get(cells, reading.meta["instance_id"]) or None,
        form_fields=form.fields,
    )
    if not row.who:
        row.skip(_l("No participant given."))
    row.submitted_at = _time(table.get(cells, reading.meta["submitted_at"]), row)
    _review(table, cells, row)
    try:
        row.draft = draft_from_values(form.fields, values, include_blank=False)
    except AppError as exc:
        row.problems.append(exc.message)
    if row.draft is not None and not row.draft.answers and not row.draft.ratings:
        row.problems.append(_l("The row has no answers."))
    return row


def _time(text: str, row: ImportRow) -> datetime | None:
    """ODK Central: 2026-05-02T10:00:00.000Z; KoboToolbox: 2026-05-02T10:00:00 (UTC, no zone)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        row.notes.append(_l("The submission time %(time)s could not be read.", time=text))
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _review(table: Table, cells: list[str], row: ImportRow) -> None:
    """Rejected submissions are not imported; those on hold are, with a note (ODK Central's reviewer
    states: received, hasIssues, edited, approved, rejected; KoboToolbox's validation status: approved,
    not approved, on hold, as `validation_status_on_hold` or as the label "On hold")."""
    central = table.get(cells, "ReviewState")
    kobo = re.sub(r"[\s_]+", "_", table.get(cells, "_validation_status").lower()).removeprefix("validation_status_")
    if status := table.get(cells, "Status"):
        row.skip(_l("ODK Central could not export this submission's answers (%(status)s).", status=status))
    if central == "rejected":
        row.skip(_l("Rejected by a reviewer in ODK Central."))
    elif central == "hasIssues":
        row.notes.append(_l("Marked as having issues in ODK Central: imported, please check it."))
    if kobo == "not_approved":
        row.skip(_l("Not approved in KoboToolbox."))
    elif kobo == "on_hold":
        row.notes.append(_l("On hold in KoboToolbox: imported, please check it."))


def _parse_table(table: Table, form: XlsForm, *, locale: str) -> tuple[ImportReport, list[ImportRow]]:
    """ClusterScore's own table: participant_id or organisation, KPI keys, rating:<csf>, comment:<csf>."""
    id_column = next((c for c in PARTICIPANT_COLUMNS if c in table.columns), None)
    if id_column is None:
        raise ImportRejected("The file needs a participant_id or organisation column.")
    questions = {key for kind, key in form.fields.by_key if kind == "kpi"}
    strangers = [
        c
        for c in table.columns
        if c
        and c not in (*PARTICIPANT_COLUMNS, *DESCRIPTIVE_COLUMNS)
        and not c.startswith(("rating:", "comment:"))
        and c not in questions
    ]
    if strangers:
        raise ImportRejected("Columns that are not questions of this round: %(columns)s", columns=", ".join(strangers))
    report = ImportReport(
        format=FORMATS[("table", "names")], columns={"participant": id_column}, ignored_columns=[], ignored_files=[]
    )
    rows = []
    for index, cells in enumerate(table.rows, start=2):
        who = table.get(cells, id_column)
        described = (*PARTICIPANT_COLUMNS, *DESCRIPTIVE_COLUMNS)
        values = {c: v for c, v in zip(table.columns, cells, strict=True) if c not in described}
        row = ImportRow(row=index, who=who, key=who, by_id=id_column == "participant_id", values=values, locale=locale)
        if not row.who:
            row.skip(_l("No participant given."))
        row.draft = _table_draft(row)
        if not row.draft.answers and not row.draft.ratings:
            row.problems.append(_l("The row has no answers."))
        rows.append(row)
    return report, rows


def _table_draft(row: ImportRow) -> ResponseDraft:
    answers: list[AnswerIn] = []
    ratings: dict[str, dict[str, object]] = {}
    for column, raw in row.values.items():
        if not raw:
            continue
        if column.startswith("rating:"):
            key = column.removeprefix("rating:")
            try:
                ratings.setdefault(key, {})["rating"] = int(raw)
            except ValueError:
                row.problems.append(
                    _l("%(field)s: %(value)s is not a point of the rating scale.", field=column, value=repr(raw))
                )
        elif column.startswith("comment:"):
            ratings.setdefault(column.removeprefix("comment:"), {})["comment"] = raw[:2000]
        else:
            answers.append(AnswerIn(kpi_key=column, value=raw))
    # As in an ODK submission: a comment without a rating keeps the rating given before.
    return ResponseDraft(
        answers=answers, ratings=[RatingIn(csf_key=k, **given) for k, given in ratings.items() if "rating" in given]
    )
