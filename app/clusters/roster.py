"""Participant lists as people have them: pasted from a spreadsheet or an email, or a CSV/XLSX file. Pure
functions: read the table, guess which column is which, and check every row before anything is written."""

import csv
import io
import re
from dataclasses import dataclass, field

from openpyxl import load_workbook

from app.clusters.schemas import OrganisationType
from app.i18n.translation import LOCALES, Msg, _l

# What a participant row can carry, in the order the mapping form shows them.
FIELDS = ("organisation", "person_name", "email", "organisation_type", "language")
FIELD_LABELS = {
    "organisation": _l("Organisation"),
    "person_name": _l("Name of the person"),
    "email": _l("Email"),
    "organisation_type": _l("Kind of organisation"),
    "language": _l("Language"),
}
# Header words (lower-cased, in the interface languages) that name a field; the facilitator can correct the guess.
_HEADER_WORDS = {
    "organisation": (
        "organisation",
        "organization",
        "company",
        "firm",
        "organización",
        "empresa",
        "organização",
        "บริษัท",
        "องค์กร",
    ),
    "person_name": ("name", "person", "contact", "nombre", "nome", "contacto", "contato", "ชื่อ"),
    "email": ("email", "e-mail", "mail", "correo", "อีเมล"),
    "organisation_type": ("type", "kind", "tipo", "ประเภท"),
    "language": ("language", "lang", "idioma", "ภาษา"),
}
MAX_ROWS = 2000
MAX_FILE_BYTES = 1_000_000


class UnreadableTable(ValueError):
    def __init__(self, message: Msg) -> None:
        self.message = message
        super().__init__(message)


def read_text(text: str) -> list[list[str]]:
    """Pasted cells (tabs, from a spreadsheet) or CSV with commas or semicolons (as spreadsheets in Spanish
    and Portuguese save it); blank rows dropped."""
    if not text.strip():
        raise UnreadableTable(_l("There is nothing to import: paste a list or choose a file."))
    rows = [
        [cell.strip() for cell in row]
        for row in csv.reader(io.StringIO(text.strip()), delimiter=_delimiter(text))
        if any(cell.strip() for cell in row)
    ]
    return _bounded(rows)


def _delimiter(text: str) -> str:
    """A tab wherever there is one (cells pasted from a spreadsheet); else the separator that splits the first
    lines into the same number of columns most often ("Foods Co., Ltd;Ana" is one organisation and a name)."""
    if "\t" in text:
        return "\t"
    sample = text.strip().splitlines()[:20]

    def consistency(delimiter: str) -> tuple[int, int]:
        widths = [len(row) for row in csv.reader(sample, delimiter=delimiter)]
        common = max(set(widths), key=widths.count)
        return (widths.count(common), common) if common > 1 else (0, 0)

    return max((",", ";"), key=consistency)


def as_text(rows: list[list[str]]) -> str:
    """Rows read from a file, written back as tab-separated text: the preview carries them in the form, so
    nothing is stored before the facilitator confirms."""
    out = io.StringIO()
    csv.writer(out, delimiter="\t", lineterminator="\n").writerows(rows)
    return out.getvalue()


def read_file(name: str, content: bytes) -> list[list[str]]:
    if len(content) > MAX_FILE_BYTES:
        raise UnreadableTable(_l("This file is larger than 1 MB; a list of participants is much smaller."))
    if name.lower().endswith(".xlsx"):
        try:
            sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).worksheets[0]
        except Exception:  # openpyxl raises many kinds for a damaged or mislabelled file
            raise UnreadableTable(_l("This file could not be read as an Excel workbook (.xlsx).")) from None
        rows = [["" if v is None else str(v).strip() for v in row] for row in sheet.iter_rows(values_only=True)]
        return _bounded([row for row in rows if any(row)])
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return read_text(content.decode(encoding))
        except UnicodeDecodeError:
            continue
    raise UnreadableTable(_l("This file could not be read as text (CSV)."))  # pragma: no cover: cp1252 reads all


def _bounded(rows: list[list[str]]) -> list[list[str]]:
    if len(rows) > MAX_ROWS + 1:
        raise UnreadableTable(_l("At most 2000 participants can be imported at once."))
    width = max(len(row) for row in rows)
    return [row + [""] * (width - len(row)) for row in rows]


def guess_mapping(header: list[str]) -> tuple[dict[str, int], bool]:
    """Which column holds which field, and whether the first row is a header at all (when no cell names a
    field, the first row is data and the first column is taken as the organisation)."""
    mapping: dict[str, int] = {}
    for index, cell in enumerate(header):
        word = cell.strip().lower()
        for name in FIELDS:
            if name not in mapping and any(w == word or w in word.split() for w in _HEADER_WORDS[name]):
                mapping[name] = index
                break
    if not mapping:
        return {"organisation": 0, **({"person_name": 1} if len(header) > 1 else {})}, False
    return mapping, True


def key_of(organisation: str, person_name: str) -> tuple[str, str]:
    """Two rows are the same participant when organisation and person match, ignoring case and spacing."""
    return (" ".join(organisation.lower().split()), " ".join(person_name.lower().split()))


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def looks_like_email(text: str) -> bool:
    return bool(_EMAIL.match(text)) and len(text) <= 254


_TYPES = {t.value for t in OrganisationType}


@dataclass
class PlannedRow:
    line: int
    values: dict[str, str]
    errors: list[Msg] = field(default_factory=list)
    duplicate: bool = False

    @property
    def adds(self) -> bool:
        return not self.errors and not self.duplicate


def plan(
    rows: list[list[str]], mapping: dict[str, int], *, has_header: bool, existing: set[tuple[str, str]]
) -> list[PlannedRow]:
    """Every row checked, in the file's line numbers; rows already in the cluster (or twice in the file) marked
    as duplicates, so importing the same list twice adds nobody."""
    if "organisation" not in mapping:
        raise UnreadableTable(_l("Choose which column holds the organisation."))
    seen = set(existing)
    planned = []
    for offset, row in enumerate(rows[1:] if has_header else rows):
        values = {name: row[index].strip() if index < len(row) else "" for name, index in mapping.items()}
        values["organisation_type"] = values.get("organisation_type", "").lower() or "firm"
        values["language"] = values.get("language", "").lower()
        entry = PlannedRow(line=offset + (2 if has_header else 1), values=values)
        if not values["organisation"]:
            entry.errors.append(_l("The organisation is missing."))
        elif len(values["organisation"]) > 200 or len(values.get("person_name", "")) > 200:
            entry.errors.append(_l("Names can be at most 200 characters long."))
        if values.get("email") and not looks_like_email(values["email"]):
            entry.errors.append(_l("“%(email)s” is not an email address.", email=values["email"]))
        if values["organisation_type"] not in _TYPES:
            entry.errors.append(
                _l(
                    "Unknown kind of organisation “%(kind)s”; use one of: %(kinds)s.",
                    kind=values["organisation_type"],
                    kinds=", ".join(sorted(_TYPES)),
                )
            )
        if values["language"] and values["language"] not in LOCALES:
            entry.errors.append(
                _l(
                    "Unknown language “%(lang)s”; use one of: %(langs)s.",
                    lang=values["language"],
                    langs=", ".join(LOCALES),
                )
            )
        key = key_of(values["organisation"], values.get("person_name", ""))
        if not entry.errors and key in seen:
            entry.duplicate = True
        seen.add(key)
        planned.append(entry)
    return planned
