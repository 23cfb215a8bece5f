"""Files for people: numbers, yes/no and dates as the reader writes them; formulas defused."""

import csv
import io
from datetime import UTC, date, datetime

from openpyxl import load_workbook

from app.dashboard import exports
from app.i18n.translation import use_locale

ROWS: list[exports.Row] = [
    {"key": "a", "comment": '=HYPERLINK("http://x")', "value": 3.5, "when": datetime(2026, 12, 5, 9, 30, tzinfo=UTC)},
    {"key": "b", "value": None, "comment": "", "when": date(2026, 12, 6)},
    {"key": "c", "value": True},
    {"key": "d", "value": 1500.25},
]


def test_csv_defuses_formulas_and_writes_numbers_and_yes_no_as_the_reader_does() -> None:
    with use_locale("en"):
        english = list(csv.reader(io.StringIO(exports.csv_text(("key", "value", "comment", "when"), ROWS))))
    assert english == [
        ["key", "value", "comment", "when"],
        ["a", "3.5", '\'=HYPERLINK("http://x")', "2026-12-05T09:30:00+00:00"],
        ["b", "", "", "2026-12-06"],
        ["c", "Yes", "", ""],
        ["d", "1500.25", "", ""],
    ]
    with use_locale("es"):
        spanish = list(csv.reader(io.StringIO(exports.csv_text(("key", "value"), ROWS)), delimiter=";"))
    assert spanish == [["key", "value"], ["a", "3,5"], ["b", ""], ["c", "Sí"], ["d", "1500,25"]]
    assert exports.spreadsheet_safe(-3) == -3  # numbers stay numbers


def test_xlsx_keeps_numbers_as_numbers_and_dates_as_dates() -> None:
    with use_locale("pt"):
        content = exports.xlsx_bytes([("Sheet", ("key", "value", "when"), ROWS)])
    sheet = load_workbook(io.BytesIO(content))["Sheet"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert rows[0] == ("a", 3.5, datetime(2026, 12, 5, 9, 30))
    assert rows[1] == ("b", None, datetime(2026, 12, 6))
    assert rows[2][1] == "Sim" and rows[3][1] == 1500.25
    assert sheet["C2"].is_date and sheet["C3"].number_format == "yyyy-mm-dd"


def test_answers_one_row_per_member_one_column_per_question() -> None:
    who = {"organisation_type": "firm", "submitted_at": None}
    rows: list[exports.Row] = [
        {"participant_id": 1, "organisation": "A", **who, "kind": "kpi", "key": "k1", "value": True},
        {
            "participant_id": 1,
            "organisation": "A",
            **who,
            "kind": "csf_rating",
            "key": "c1",
            "value": 4,
            "comment": "ok",
        },
        {"participant_id": 2, "organisation": "B", **who, "kind": "kpi", "key": "k2", "value": 12.5},
    ]
    columns, wide = exports.wide_answers(rows, ["k1", "k2"], ["c1"])
    assert columns == [*exports.WHO_COLUMNS, "k1", "k2", "rating:c1", "comment:c1"]
    assert wide[0] | {"k1": True, "rating:c1": 4, "comment:c1": "ok"} == wide[0] and "k2" not in wide[0]
    assert wide[1]["k2"] == 12.5 and wide[1]["organisation"] == "B"
