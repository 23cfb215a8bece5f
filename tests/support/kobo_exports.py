"""KoboToolbox exports of the workshop in odk_scenario.py, written as KoboToolbox writes them.

KoboToolbox cannot run on this machine, so these files are built from its export code, formpack
(kobotoolbox/formpack, src/formpack/reporting/export.py and schema/fields.py) and the copy fields kpi adds:
- CSV: every value quoted with `"`, separated by `;` (formpack's `to_csv(sep=';', quote='"')`);
- XLSX: one sheet named after the form (formpack's unique_name_for_xls), a header row, a row per submission;
- headers either XML names or labels (the form's default language), with the groups joined by `/`
  when "Include groups in headers" is on (`hierarchy_in_labels`, `group_sep='/'`);
- select answers as choice names (XML values) or choice labels (labels);
- then the copy fields `_id`, `_uuid` (the instanceID without "uuid:"), `_submission_time` (UTC, no zone),
  `_validation_status` (`validation_status_not_approved`, or its label "Not Approved" in a labels export),
  `_notes`, `_status`, `_submitted_by`, `__version__`, `_tags`, `_index`;
- oldest submission first; an edited submission stays on its row with the edit's answers and `_uuid`.

Run `python -m tests.support.kobo_exports tests/fixtures/interop` to write them again.
"""

import csv
import io
import re
import sys
import tempfile
from pathlib import Path

from openpyxl import Workbook
from sqlmodel import Session

from app import migrate
from app.config import ROOT
from app.db import make_engine
from app.interop import service
from app.interop.logic import RESPONDENT_FIELD, XlsForm
from app.scorecards import service as scorecard_service
from tests.support import odk_scenario
from tests.support.odk_scenario import SENT, Sent

VALIDATION = {
    "rejected": ("validation_status_not_approved", "Not Approved"),
    "hasIssues": ("validation_status_on_hold", "On Hold"),
    "": ("", ""),
}
COPY_FIELDS = ("_id", "_uuid", "_submission_time", "_validation_status", "_notes", "_status", "_submitted_by",
               "__version__", "_tags", "_index")  # fmt: skip
# (file name, XLSX or CSV, labels or XML names, groups in headers)
EXPORTS = (
    ("kobo-xml-groups.csv", False, False, True),
    ("kobo-labels.csv", False, True, False),
    ("kobo-xml.xlsx", True, False, False),
    ("kobo-labels-groups.xlsx", True, True, True),
)


def submissions() -> list[tuple[int, Sent]]:
    """(Kobo's _id, the submission) oldest first; an edit takes the place of what it edits."""
    rows: list[tuple[int, Sent]] = []
    for number, sent in enumerate(SENT, start=301):
        edited = next((i for i, (_, s) in enumerate(rows) if s.instance_id == sent.deprecated_id), None)
        if edited is None:
            rows.append((number, sent))
        else:
            rows[edited] = (rows[edited][0], sent)
    return rows


def table(form: XlsForm, *, labels: bool, groups: bool) -> list[list[str]]:
    label = "label::English (en)"
    header: list[str] = []
    names: list[str] = []
    group = ""
    for row in form.survey:
        if row["type"] == "begin_group":
            group = row[label] if labels else row["name"]
        elif row["type"] == "end_group":
            group = ""
        else:
            text = row.get(label, row["name"]) if labels else row["name"]
            header.append(f"{group}/{text}" if groups and group else text)
            names.append(row["name"])
    rows = [header + list(COPY_FIELDS)]
    for index, (number, sent) in enumerate(submissions(), start=1):
        values = {**sent.values, RESPONDENT_FIELD: str(sent.member + 1)}
        cells = []
        for name in names:
            value = values.get(name, "")
            list_name = form.list_of(name)
            if labels and list_name and value:
                value = next(c[label] for c in form.choices if c["list_name"] == list_name and c["name"] == value)
            cells.append(value)
        status = VALIDATION[sent.review][1 if labels else 0]
        uuid = sent.instance_id.removeprefix("uuid:")
        time = f"2026-12-05T09:{10 + index:02d}:00"
        version = form.settings["version"]
        rows.append([*cells, str(number), uuid, time, status, "", "submitted_via_web", "", version, "", str(index)])
    return rows


def write(folder: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/kobo.db"
        migrate.upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            scorecard_service.load_directory(session, ROOT / "scorecards")
            setting = odk_scenario.workshop(session, rounds=1)
            form = service.xlsform(session, setting.cluster, setting.rounds[0])
        engine.dispose()
    for name, xlsx, labels, groups in EXPORTS:
        rows = table(form, labels=labels, groups=groups)
        if xlsx:
            book = Workbook()
            sheet = book.active
            assert sheet is not None
            # formpack's unique_name_for_xls: '_' for []:*?/\ and at most 31 characters, '...' where cut.
            title = re.sub(r"[\[\]:*?/\\]", "_", form.settings["form_title"])
            sheet.title = title if len(title) <= 31 else title[:28] + "..."
            for row in rows:
                sheet.append(row)
            out = io.BytesIO()
            book.save(out)
            (folder / name).write_bytes(out.getvalue())
        else:
            text = io.StringIO()
            csv.writer(text, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
            (folder / name).write_text(text.getvalue(), encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1]))
