"""XLSForm export of a cluster's effective scorecard for one round, OpenRosa submissions and imports."""

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime

from pyxform.errors import PyXFormError
from pyxform.xls2xform import convert
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.clusters import service as clusters
from app.clusters.models import Cluster, Participant
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.i18n.numbers import MACHINE
from app.i18n.translation import Msg, _l
from app.interop.imports import ImportReport, ImportRow, parse_rows, read_table
from app.interop.logic import (
    END_FIELD,
    FieldMap,
    Member,
    Respondent,
    XlsForm,
    build_xlsform,
    member_questions,
    text_problems,
)
from app.interop.models import OdkSubmission
from app.interop.openrosa import (
    FormEntry,
    Submission,
    SubmissionRejected,
    draft_from_values,
    located,
    parse_submission,
)
from app.responses import service as responses
from app.responses.models import Response
from app.responses.schemas import ResponseDraft
from app.rounds.models import Round


@dataclass(frozen=True)
class Device:
    """Who is sending OpenRosa requests: a member's own phone (their personal link) or a staff device
    collecting for the cluster's members (an enumerator)."""

    cluster: Cluster
    member: Participant | None
    actor: str


def members(session: Session, cluster: Cluster) -> list[Participant]:
    statement = select(Participant).where(Participant.cluster_id == cluster.id, col(Participant.active))
    return list(session.exec(statement.order_by(col(Participant.organisation), col(Participant.id))))


def _member(participant: Participant) -> Member:
    assert participant.id is not None
    return Member(
        id=participant.id,
        organisation=participant.organisation,
        person_name=participant.person_name,
        firm=participant.organisation_type == "firm",
    )


def xlsform(session: Session, cluster: Cluster, round_: Round, *, member: Participant | None = None) -> XlsForm:
    """The same member questions and CSF ratings as the web form, in every language of the template:
    the personal form of `member`, or without one the enumerator form listing every active member."""
    assert cluster.id is not None and round_.id is not None and round_.cluster_id == cluster.id
    languages = list(clusters.template_spec(session, cluster).languages)
    scorecards = {lang: clusters.scorecard(session, cluster, lang=lang) for lang in languages}
    if member is not None:
        respondent = Respondent(member=_member(member))
    else:
        everyone = members(session, cluster)
        if not everyone:
            raise Conflict("This cluster has no participants yet: add them first, the form asks which member answers.")
        respondent = Respondent(members=tuple(_member(p) for p in everyone))
    return build_xlsform(
        scorecards,
        form_id=f"clusterscore_c{cluster.id}_r{round_.id}",
        title=f"{cluster.name}: {round_.label}",
        round_label=round_.label,
        languages=languages,
        respondent=respondent,
    )


def question_problems(*, title: str, question: str | None, unit: str | None) -> list[dict[str, str]]:
    """Why a new indicator would break the round's ODK form ({field, message}); empty when it would not.
    Besides the known traps (text_problems), pyxform itself converts a form asking just this question."""
    problems = text_problems({"title": title, "question": question, "unit": unit})
    if problems:
        return problems
    row = {
        "type": "text",
        "name": "question",
        "label::English (en)": question or title,
        "hint::English (en)": unit or "",
    }
    form = XlsForm(survey=[row], choices=[], settings={"form_id": "check"}, languages=["en"], fields=FieldMap())
    try:
        xform(form)
    except PyXFormError as exc:
        return [{"field": "question", "message": _l("ODK forms cannot carry it: %(reason)s", reason=str(exc))}]
    return []


def xform(form: XlsForm) -> str:
    """The XForm that ODK Collect downloads: pyxform's conversion of the XLSForm."""
    return convert(xlsform=io.BytesIO(form.to_xlsx()), file_type=".xlsx").xform


def open_rounds(session: Session, cluster: Cluster) -> list[Round]:
    statement = select(Round).where(Round.cluster_id == cluster.id, Round.status == "open").order_by(col(Round.id))
    return list(session.exec(statement))


def form_entries(session: Session, device: Device, *, base_url: str, form_id: str | None) -> list[FormEntry]:
    """The formList: one form per open round, or only the one named by `form_id` (OpenRosa's ?formID=)."""
    entries = []
    for round_ in open_rounds(session, device.cluster):
        form = xlsform(session, device.cluster, round_, member=device.member)
        if form_id is not None and form.settings["form_id"] != form_id:
            continue
        entries.append(
            FormEntry(
                form_id=form.settings["form_id"],
                name=form.settings["form_title"],
                version=form.settings["version"],
                md5=hashlib.md5(xform(form).encode(), usedforsecurity=False).hexdigest(),
                download_url=f"{base_url}/forms/{round_.id}",
            )
        )
    return entries


def device_form(session: Session, device: Device, round_id: int) -> XlsForm:
    round_ = session.get(Round, round_id)
    if round_ is None or round_.cluster_id != device.cluster.id or round_.status != "open":
        raise NotFound("No such form.")
    return xlsform(session, device.cluster, round_, member=device.member)


def _respondent(session: Session, device: Device, parsed: Submission) -> Participant:
    """The member whose answers these are: the phone's own member, or the one a staff device chose."""
    if device.member is not None:
        if parsed.respondent is not None and parsed.respondent != str(device.member.id):
            raise Forbidden("This form was filled in for another member: send it from a staff device.")
        return device.member
    if parsed.respondent is None:
        raise SubmissionRejected("The submission does not say which member it is for (participant_id).")
    participant = session.get(Participant, int(parsed.respondent)) if parsed.respondent.isdigit() else None
    if participant is None or participant.cluster_id != device.cluster.id or not participant.active:
        raise NotFound("No such participant in this cluster.")
    return participant


def received(session: Session, response: Response | None, instance_id: str) -> OdkSubmission | None:
    """A submission filed into this member's response under this instanceID; another member's is not seen."""
    if response is None:
        return None
    statement = select(OdkSubmission).where(
        OdkSubmission.response_id == response.id, OdkSubmission.instance_id == instance_id
    )
    return session.exec(statement).first()


def _check_version(session: Session, device: Device, round_: Round, fields: FieldMap, parsed: Submission) -> None:
    """An instance of an earlier version of the form is taken only when each of its answers still names
    the same question (ODK Central instead keeps every published version; ClusterScore builds the form
    from the scorecard and keeps none). Otherwise nothing is guessed: the member fills in the new form.
    An instance whose every answer names its question unambiguously is taken whatever its version, so the
    whole form (its labels in every language, every member of an enumerator form) is built only otherwise."""
    stale = sorted(
        name for name, value in parsed.values.items() if value and name != END_FIELD and not fields.is_unambiguous(name)
    )
    if stale and parsed.version != xlsform(session, device.cluster, round_, member=device.member).settings["version"]:
        raise NotFound(
            "This form has changed since it was downloaded (%(fields)s are no longer asked as they were). "
            "Get the new form and fill it in again.",
            fields=", ".join(stale),
        )


def receive_submission(session: Session, device: Device, xml: bytes) -> str:
    """File an OpenRosa submission as the member's submitted response; the message for the device.

    meta/instanceID names one change to the member's response, by the rule every way of answering follows
    (responses.service.Change): the same bytes again create nothing (Collect retries after a lost reply);
    other bytes under a used instanceID are a conflict. An edit made in Collect carries meta/deprecatedID
    and is applied as a correction (audited), blanks clearing answers, except where an answer was changed
    after the edit was finished on the phone (its `end`).
    """
    parsed = parse_submission(xml)
    cluster_id, round_id = parsed.round_id()
    round_ = session.get(Round, round_id)
    if round_ is None or cluster_id != device.cluster.id or round_.cluster_id != device.cluster.id:
        raise NotFound("This form is not one of your cluster's rounds.")
    participant = _respondent(session, device, parsed)
    digest = hashlib.sha256(xml).hexdigest()
    finished = _finished_at(parsed.values.get(END_FIELD))
    response = responses.find_response(session, round_, participant)
    if response is not None:
        change = odk_change(response, parsed.instance_id, finished, digest)
        if responses.find_change(session, change, response_id=response.id) is not None:
            return "This submission was already received."
    # The form's fields as build_xlsform names them, from the scorecard (cached per version of it).
    respondent = _member(device.member) if device.member is not None else None
    fields = member_questions(clusters.scorecard(session, device.cluster), respondent)
    _check_version(session, device, round_, fields, parsed)
    draft = draft_from_values(fields, parsed.values, include_blank=parsed.deprecated_id is not None)
    if parsed.deprecated_id is not None:
        draft = _as_edit(session, response, parsed.deprecated_id, draft)
    try:
        response = _save(
            session,
            round_,
            participant,
            response,
            draft,
            actor=device.actor,
            locale=MACHINE,
            change=responses.Change(parsed.instance_id, finished, digest),
        )
    except InvalidInput as exc:
        # Name each refused answer by its form field, as the device knows it.
        exc.details = [{**d, "field": fields.by_key[located(draft, d["field"])]} for d in exc.details or []]
        raise
    assert response.id is not None
    session.add(
        OdkSubmission(
            instance_id=parsed.instance_id,
            xml_sha256=digest,
            response_id=response.id,
            deprecated_id=parsed.deprecated_id,
        )
    )
    received_event = audit.event(
        actor=device.actor,
        action="odk_submission_received" if parsed.deprecated_id is None else "odk_edit_received",
        entity="response",
        entity_id=response.id,
        cluster_id=device.cluster.id,
        after={"instance_id": parsed.instance_id, "deprecated_id": parsed.deprecated_id, "sha256": digest},
    )
    responses.submit(session, response, client_id=None, actor=device.actor, events=[received_event])
    return "Thank you: your answers were received."


def _as_edit(session: Session, response: Response | None, deprecated_id: str, draft: ResponseDraft) -> ResponseDraft:
    """An edit made in Collect replaces the whole submission it names (as ODK Central takes it, which refuses
    an edit of a copy already edited): a blank clears what was answered; blanks never answered stay absent."""
    if response is None or received(session, response, deprecated_id) is None:
        raise NotFound("The submission this edit replaces was never received.")
    superseded = select(OdkSubmission.id).where(
        OdkSubmission.response_id == response.id, OdkSubmission.deprecated_id == deprecated_id
    )
    if session.exec(superseded).first() is not None:
        raise Conflict(
            "The copy you edited is out of date: another edit of it was already received. Edit the newest copy instead."
        )
    stored = responses.read(session, response)
    answered = {a.kpi_key for a in stored.answers}
    rated = {r.csf_key for r in stored.ratings}
    return draft.model_copy(
        update={
            "answers": [a for a in draft.answers if a.value is not None or a.kpi_key in answered],
            "ratings": [r for r in draft.ratings if r.rating is not None or r.comment or r.csf_key in rated],
        }
    )


def odk_change(response: Response, instance_id: str, finished: datetime | None, digest: str) -> responses.Change:
    """An instanceID names one change to one member's response (instanceIDs are scoped to the response:
    another member's are never seen), made when the form was finished, with the submission's bytes."""
    return responses.Change(f"odk-{response.id}-{instance_id}", finished, digest)


def _scoped(change: responses.Change, response: Response) -> responses.Change:
    """An ODK change (its client id an instanceID) as the change to this response it is."""
    if change.client_id is None:
        return change
    return odk_change(response, change.client_id, change.made_at, change.content)


def _finished_at(end: str | None) -> datetime | None:
    """When the member finished the form on the device (the XForm's `end` metadata), if it says."""
    try:
        return datetime.fromisoformat(end) if end else None
    except ValueError:
        return None


def _save(
    session: Session,
    round_: Round,
    participant: Participant,
    found: Response | None,
    draft: ResponseDraft,
    *,
    actor: str,
    locale: str,
    change: responses.Change,
) -> Response:
    """The draft saved into the participant's response (`found`, as the caller read it, or a new one), through
    the web form's checks and by the rule for changes (an answer changed after this one was made stays); the
    caller submits it. A new response has nothing stored to compare with: nothing more is read."""
    response = found if found is not None else responses.create_response(session, round_, participant)
    scorecard = clusters.scorecard(session, clusters.get_cluster(session, round_.cluster_id))
    responses.save_change(
        session,
        response,
        draft,
        change=_scoped(change, response),
        scorecard=scorecard,
        actor=actor,
        locale=locale,
        new=found is None,
    )
    return response


def import_answers(
    session: Session, round_: Round, content: bytes, *, filename: str, dry_run: bool, actor: str, locale: str
) -> ImportReport:
    """Import a table of answers onto the round, row by row: each row is accepted or skipped with its
    reasons, and the dry run reports exactly what the import would do. Each accepted row becomes the
    participant's submitted response through the same service calls as the web form, so corrections
    are audited alike, and is recorded by its instanceID, so importing the same file again changes nothing.
    `locale`: how numbers are written in ClusterScore's own table (as the importer writes them)."""
    cluster = clusters.get_cluster(session, round_.cluster_id)
    if round_.status != "open":
        raise Conflict("This round is not open for answers.")
    form = xlsform(session, cluster, round_)
    scorecard = clusters.scorecard(session, cluster)
    table = read_table(content, filename)
    report, rows = parse_rows(table, form, locale=locale)
    everyone = list(session.exec(select(Participant).where(Participant.cluster_id == cluster.id)))
    for row in rows:
        row.participant = _find_participant(row, everyone)
    for row in _newest_per_member(rows):
        assert row.participant is not None
        seen = received(session, responses.find_response(session, round_, row.participant), row.instance_key)
        if seen is not None:
            row.skip(_already_received(seen))
            continue
        kind = row.participant.organisation_type
        problems = (
            responses.check_draft(row.draft, scorecard=scorecard, locale=row.locale, organisation_type=kind)[0]
            if row.draft is not None
            else []
        )
        for problem in problems:
            field = row.field_label(problem["field"])
            row.problems.append(_l("Question %(field)s: %(problem)s", field=field, problem=problem["message"]))
        row.accept()
    accepted = [row for row in rows if row.accepted]
    if not dry_run and accepted:
        for row in accepted:
            assert row.participant is not None and row.draft is not None
            # Made when it was submitted to Central or Kobo: an answer changed since then stays.
            imported = responses.draft_change(row.draft, client_id=None, made_at=row.submitted_at)
            found = responses.find_response(session, round_, row.participant)
            response = _save(
                session, round_, row.participant, found, row.draft, actor=actor, locale=row.locale, change=imported
            )
            responses.submit(session, response, client_id=None, actor=actor)
            assert response.id is not None
            session.add(
                OdkSubmission(
                    instance_id=row.instance_key,
                    xml_sha256=row.digest,
                    response_id=response.id,
                    source="import",
                    submitted_at=row.submitted_at,
                )
            )
        audit.record(
            session,
            actor=actor,
            action="answers_imported",
            entity="round",
            entity_id=round_.id,
            cluster_id=cluster.id,
            after={
                "filename": filename[:200],
                "format": report.format.msgid,
                "rows": len(rows),
                "accepted": len(accepted),
            },
        )
        session.flush()
    return report.finish(rows, written=not dry_run and bool(accepted))


def _find_participant(row: ImportRow, everyone: list[Participant]) -> Participant | None:
    if row.skipped:
        return None
    active = [p for p in everyone if p.active]
    if row.by_id:
        found = [p for p in active if str(p.id) == row.key]
    else:
        found = [p for p in active if p.organisation.strip().casefold() == row.key.casefold()]
    if len(found) > 1:
        row.skip(_l("Several participants have this organisation name: use participant_id."))
        return None
    if not found:
        row.skip(_l("Unknown participant: not an active participant of this cluster."))
        return None
    return found[0]


def _newest_per_member(rows: list[ImportRow]) -> list[ImportRow]:
    """Of several submissions of one member, the newest (by submission time, else the first row, as ODK
    Central lists newest first) is imported; the others are reported. Rejected ones do not count."""
    candidates: dict[int, list[ImportRow]] = {}
    for row in rows:
        if row.participant is not None and not row.skipped:
            assert row.participant.id is not None
            candidates.setdefault(row.participant.id, []).append(row)
    chosen = []
    for group in candidates.values():
        newest = max(group, key=lambda r: (r.submitted_at is not None, r.submitted_at, -r.row))
        for row in group:
            if row is not newest:
                row.skip_older(newest.row)
        chosen.append(newest)
    return chosen


def _already_received(seen: OdkSubmission) -> Msg:
    if seen.source == "import":
        return _l("Already imported: the same submission was imported before.")
    return _l("Already received from ODK Collect, KoboCollect or Enketo: the same submission.")
