"""A round's raw answers and scores as CSV and XLSX files."""

import io
from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.styles import Font

from app.dashboard import logic
from app.dashboard.service import SessionView


def score_rows(view: SessionView) -> list[dict[str, object]]:
    """Overall, perspective, CSF and KPI scores of the round, one row each, unrounded."""
    current = view.current.scores
    label = view.round.label
    rows: list[dict[str, object]] = [
        {
            "round": label,
            "level": "overall",
            "key": "",
            "title": "",
            "score": current.overall.value,
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
                "score": score.value,
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
                "score": topic.score,
                "status": topic.status,
                "ratings": topic.ratings,
                "disagreement": topic.disagreement,
            }
        )
    for kpi in view.kpis:
        rows.append(
            {
                "round": label,
                "level": "kpi",
                "key": kpi.key,
                "title": kpi.title,
                "score": kpi.achievement,
                "status": kpi.status,
                "value": kpi.value,
                "baseline": kpi.baseline,
                "target": kpi.target,
            }
        )
    return rows


def xlsx_bytes(sheets: Sequence[tuple[str, Sequence[str], list[dict[str, object]]]]) -> bytes:
    """One worksheet per (name, columns, rows), header in bold and frozen."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, columns, rows in sheets:
        sheet = workbook.create_sheet(title=name[:31])
        sheet.append(list(columns))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
        for row in rows:
            sheet.append([logic.spreadsheet_safe(row.get(c)) for c in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
