"""Pure parts of the OpenRosa protocol: the form list, submission parsing and the response envelope.

Submissions are parsed with defusedxml: no DTDs, no entity expansion, no external entities; the
caller limits the size before parsing.
"""

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

from app.errors import AppError
from app.interop.logic import RESPONDENT_FIELD, FieldKind, FieldMap, form_text
from app.responses.schemas import AnswerIn, RatingIn, ResponseDraft

# The whole request a device may send (the XML and any attachment), announced on every OpenRosa reply
# as X-OpenRosa-Accept-Content-Length and enforced: ClusterScore's forms have no media questions, and
# the XML of the largest scorecard with every comment at its limit stays far below.
MAX_SUBMISSION_BYTES = 1_000_000
OPENROSA_VERSION = "1.0"
FORM_ID = re.compile(r"^clusterscore_c(\d+)_r(\d+)$")


class SubmissionRejected(AppError):
    """The submitted XML is not an instance of one of our forms (OpenRosa answers 400, as ODK Central does)."""

    status_code = 400


@dataclass(frozen=True)
class FormEntry:
    form_id: str
    name: str
    version: str
    md5: str
    download_url: str


def instance_key(instance_id: str) -> str:
    """An instanceID as stored: Collect sends "uuid:<uuid>", KoboToolbox's exports show the bare uuid."""
    return instance_id.strip().removeprefix("uuid:")


@dataclass(frozen=True)
class Submission:
    form_id: str
    version: str | None
    instance_id: str
    deprecated_id: str | None
    values: dict[str, str]
    respondent: str | None = None  # the participant_id field, when the form has one

    def round_id(self) -> tuple[int, int]:
        match = FORM_ID.match(self.form_id)
        if match is None:
            raise SubmissionRejected("This form was not made by ClusterScore.")
        return int(match[1]), int(match[2])


def form_list_xml(forms: list[FormEntry]) -> str:
    items = "".join(
        "<xform>"
        f"<formID>{escape(f.form_id)}</formID><name>{escape(form_text(f.name))}</name>"
        f"<version>{escape(f.version)}</version><hash>md5:{f.md5}</hash>"
        f"<downloadUrl>{escape(f.download_url)}</downloadUrl>"
        "</xform>"
        for f in forms
    )
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<xforms xmlns="http://openrosa.org/xforms/xformsList">{items}</xforms>'


def response_xml(message: str, *, refused: bool = False) -> str:
    """The message ODK Collect shows; `nature` tells a success from a refusal, as ODK Central's replies do."""
    nature = "error" if refused else "submit_success"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<OpenRosaResponse xmlns="http://openrosa.org/http/response"><message nature="{nature}">'
        f"{escape(form_text(message))}</message></OpenRosaResponse>"
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_submission(xml: bytes) -> Submission:
    if len(xml) > MAX_SUBMISSION_BYTES:
        raise SubmissionRejected("The submission is too large.")
    try:
        root: Element = SafeElementTree.fromstring(xml, forbid_dtd=True)
    except (SafeElementTree.ParseError, DefusedXmlException, ValueError) as exc:
        raise SubmissionRejected(
            "The submission is not well-formed XML (%(problem)s).", problem=type(exc).__name__
        ) from None
    form_id = root.get("id")
    if not form_id:
        raise SubmissionRejected("The submission names no form (id attribute).")
    values: dict[str, str] = {}
    meta: dict[str, str] = {}
    for child in root:
        found = meta if _local(child.tag) == "meta" else values
        for element in child.iter():
            if not len(element):
                found[_local(element.tag)] = (element.text or "").strip()
    instance_id = instance_key(meta.get("instanceID", ""))
    deprecated_id = instance_key(meta.get("deprecatedID", "")) or None
    if not instance_id or len(instance_id) > 100:
        raise SubmissionRejected("The submission has no meta/instanceID.")
    if deprecated_id is not None and len(deprecated_id) > 100:
        raise SubmissionRejected("meta/deprecatedID is too long.")
    return Submission(
        form_id=form_id,
        version=root.get("version"),
        instance_id=instance_id,
        deprecated_id=deprecated_id,
        values=values,
        respondent=values.pop(RESPONDENT_FIELD, None) or None,
    )


def located(draft: ResponseDraft, location: str) -> tuple[FieldKind, str]:
    """What a check_draft problem is about: 'answers[2].value' -> ("kpi", its key), 'ratings[0].rating' ->
    ("rating", its CSF's key)."""
    kind, _, rest = location.partition("[")
    index = int(rest.split("]", 1)[0])
    if kind == "answers":
        return "kpi", draft.answers[index].kpi_key
    return "rating", draft.ratings[index].csf_key


def draft_from_values(fields: FieldMap, values: dict[str, str], *, include_blank: bool) -> ResponseDraft:
    """Map form field values back onto KPI answers and CSF ratings; names not in the form are ignored
    (meta fields, groups). Blank values clear an answer only when `include_blank` (an edit)."""
    answers: list[AnswerIn] = []
    ratings: dict[str, dict[str, object]] = {}
    for name, raw in values.items():
        entry = fields.lookup(name)
        if entry is None or (not raw and not include_blank):
            continue
        kind, key = entry
        if kind == "kpi":
            answers.append(AnswerIn(kpi_key=key, value=raw or None))
        elif kind == "rating":
            rating: int | None = None
            if raw:
                try:
                    rating = int(raw)
                except ValueError:
                    raise SubmissionRejected(
                        "%(field)s: %(value)s is not a point of the rating scale.", field=name, value=repr(raw)
                    ) from None
            ratings.setdefault(key, {})["rating"] = rating
        else:
            ratings.setdefault(key, {})["comment"] = raw[:2000]
    # A comment without a rating would otherwise clear a rating given earlier (for example on the web).
    rating_rows = [
        RatingIn(csf_key=key, **given) for key, given in ratings.items() if "rating" in given or include_blank
    ]
    return ResponseDraft(answers=answers, ratings=rating_rows)
