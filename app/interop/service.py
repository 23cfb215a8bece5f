"""XLSForm export of a cluster's effective scorecard for one round, and OpenRosa submissions."""

import hashlib
import io

from pyxform.xls2xform import convert
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.clusters import service as clusters
from app.clusters.models import Cluster, Participant
from app.errors import Conflict, NotFound
from app.interop.imports import parse_rows, read_table
from app.interop.logic import XlsForm, build_xlsform
from app.interop.models import OdkSubmission
from app.interop.openrosa import FormEntry, draft_from_values, parse_submission
from app.responses import service as responses
from app.responses.schemas import ResponseDraft
from app.rounds.models import Round


def xlsform(session: Session, cluster: Cluster, round_: Round) -> XlsForm:
    """The same member questions and CSF ratings as the web form, in every language of the template."""
    assert cluster.id is not None and round_.id is not None and round_.cluster_id == cluster.id
    languages = list(clusters.template_spec(session, cluster).languages)
    scorecards = {lang: clusters.scorecard(session, cluster, lang=lang) for lang in languages}
    return build_xlsform(
        scorecards,
        form_id=f"clusterscore_c{cluster.id}_r{round_.id}",
        title=f"{cluster.name}: {round_.label}",
        languages=languages,
    )


def xform(form: XlsForm) -> str:
    """The XForm that ODK Collect downloads: pyxform's conversion of the XLSForm."""
    return convert(xlsform=io.BytesIO(form.to_xlsx()), file_type=".xlsx").xform


def open_rounds(session: Session, cluster: Cluster) -> list[Round]:
    statement = select(Round).where(Round.cluster_id == cluster.id, Round.status == "open").order_by(col(Round.id))
    return list(session.exec(statement))


def form_entries(session: Session, cluster: Cluster, *, base_url: str) -> list[FormEntry]:
    entries = []
    for round_ in open_rounds(session, cluster):
        form = xlsform(session, cluster, round_)
        body = xform(form)
        entries.append(
            FormEntry(
                form_id=form.settings["form_id"],
                name=form.settings["form_title"],
                version=form.settings["version"],
                md5=hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                download_url=f"{base_url}/forms/{round_.id}",
            )
        )
    return entries


def receive_submission(session: Session, participant: Participant, xml: bytes, *, actor: str) -> tuple[int, str]:
    """Store an OpenRosa submission as the participant's response; (HTTP status, message).

    Deduplicated on meta/instanceID: the same bytes again create nothing (Collect retries after a
    lost reply); other bytes under a used instanceID are a conflict. An edit made in Collect carries
    meta/deprecatedID and is applied as a correction (audited by save_draft), blanks clearing answers.
    """
    parsed = parse_submission(xml)
    digest = hashlib.sha256(xml).hexdigest()
    seen = session.exec(select(OdkSubmission).where(OdkSubmission.instance_id == parsed.instance_id)).first()
    if seen is not None:
        if seen.xml_sha256 == digest:
            return 202, "This submission was already received."
        raise Conflict("A different submission with this instanceID was already received.")
    cluster_id, round_id = parsed.round_id()
    round_ = session.get(Round, round_id)
    if round_ is None or cluster_id != participant.cluster_id or round_.cluster_id != participant.cluster_id:
        raise NotFound("This form is not one of your cluster's rounds.")
    cluster = clusters.get_cluster(session, cluster_id)
    form = xlsform(session, cluster, round_)
    editing = parsed.deprecated_id is not None
    if editing:
        original = session.exec(select(OdkSubmission).where(OdkSubmission.instance_id == parsed.deprecated_id)).first()
        if original is None:
            raise NotFound("The submission this edit replaces was never received.")
    draft = draft_from_values(form.fields, parsed.values, include_blank=editing)
    response = responses.start_response(session, round_, participant)
    if editing:
        # A blank in the edit clears what was answered; blanks never answered stay absent.
        stored = responses.read(session, response)
        answered = {a.kpi_key for a in stored.answers}
        rated = {r.csf_key for r in stored.ratings}
        draft = draft.model_copy(
            update={
                "answers": [a for a in draft.answers if a.value is not None or a.kpi_key in answered],
                "ratings": [r for r in draft.ratings if r.rating is not None or r.comment or r.csf_key in rated],
            }
        )
    scorecard = clusters.scorecard(session, cluster)
    responses.save_draft(session, response, draft, scorecard=scorecard, actor=actor)
    responses.submit(session, response, client_id=None, actor=actor)
    assert response.id is not None
    session.add(
        OdkSubmission(
            instance_id=parsed.instance_id,
            xml_sha256=digest,
            response_id=response.id,
            deprecated_id=parsed.deprecated_id,
        )
    )
    audit.record(
        session,
        actor=actor,
        action="odk_edit_received" if editing else "odk_submission_received",
        entity="response",
        entity_id=response.id,
        cluster_id=cluster_id,
        after={"instance_id": parsed.instance_id, "deprecated_id": parsed.deprecated_id, "sha256": digest},
    )
    session.flush()
    return 201, "Thank you: your answers were received."


def import_answers(
    session: Session, round_: Round, content: bytes, *, filename: str, dry_run: bool, actor: str
) -> dict[str, object]:
    """Import a table of answers onto the round: every row is checked first, and nothing is written
    unless every row is valid (and not `dry_run`). Each row becomes the participant's submitted
    response through the same service calls as the web form, so corrections are audited alike."""
    cluster = clusters.get_cluster(session, round_.cluster_id)
    if round_.status != "open":
        raise Conflict("This round is not open for answers.")
    form = xlsform(session, cluster, round_)
    scorecard = clusters.scorecard(session, cluster)
    rows = parse_rows(read_table(content, filename), form.fields)
    members = list(session.exec(select(Participant).where(Participant.cluster_id == cluster.id)))
    by_id = {str(p.id): p for p in members if p.active}
    by_name: dict[str, list[Participant]] = {}
    for p in members:
        if p.active:
            by_name.setdefault(p.organisation.strip().casefold(), []).append(p)
    first_row: dict[int, int] = {}
    accepted: list[tuple[Participant, ResponseDraft]] = []
    rejected: list[dict[str, object]] = []
    for row in rows:
        participant: Participant | None = None
        if row.participant:
            if row.by_id:
                participant = by_id.get(row.participant)
            else:
                named = by_name.get(row.participant.casefold(), [])
                if len(named) > 1:
                    row.problems.append("Several participants have this organisation name: use participant_id.")
                participant = named[0] if len(named) == 1 else None
            if participant is None and not row.problems:
                row.problems.append("Unknown participant: not an active participant of this cluster.")
        if participant is not None:
            assert participant.id is not None
            if participant.id in first_row:
                row.problems.append(f"Duplicate: this participant is already on row {first_row[participant.id]}.")
            else:
                first_row[participant.id] = row.row
        if row.draft is not None:
            problems, _values = responses.check_draft(row.draft, scorecard=scorecard)
            for problem in problems:
                row.problems.append(f"{_field_label(row.draft, problem['field'])}: {problem['message']}")
        if row.problems or participant is None or row.draft is None:
            rejected.append({"row": row.row, "participant": row.participant, "problems": row.problems})
        else:
            accepted.append((participant, row.draft))
    written = not dry_run and not rejected
    if written:
        for participant, draft in accepted:
            response = responses.start_response(session, round_, participant)
            responses.save_draft(session, response, draft, scorecard=scorecard, actor=actor)
            responses.submit(session, response, client_id=None, actor=actor)
        audit.record(
            session,
            actor=actor,
            action="answers_imported",
            entity="round",
            entity_id=round_.id,
            cluster_id=cluster.id,
            after={"filename": filename[:200], "rows": len(rows)},
        )
        session.flush()
    return {"rows": len(rows), "accepted": len(accepted), "rejected": rejected, "written": written}


def _field_label(draft: ResponseDraft, location: str) -> str:
    """'answers[2].value' -> the KPI key, 'ratings[0].rating' -> 'rating:<csf key>'."""
    kind, _, rest = location.partition("[")
    index = int(rest.split("]", 1)[0])
    if kind == "answers":
        return draft.answers[index].kpi_key
    return f"rating:{draft.ratings[index].csf_key}"
