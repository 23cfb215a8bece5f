"""Reads and writes behind the facilitator's pages: cluster setup, rounds, the reflection session, exports."""

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.models import AuditEvent
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant
from app.clusters.schemas import Scorecard, ScorecardKpi
from app.dashboard import logic
from app.errors import Conflict, InvalidInput, NotFound
from app.memo import Memo
from app.reflection.models import ActionItem, ReflectionNote
from app.responses.models import Answer, CsfRating, Response
from app.rounds import service as round_service
from app.rounds.models import KpiValue, Round
from app.scorecards import service as scorecard_service
from app.scorecards.models import TemplateVersion
from app.scoring import logic as scoring
from app.scoring import service as scoring_service
from app.timeutil import utcnow

# --- live updates ---------------------------------------------------------------------------------


def live_etag(session: Session, round_: Round, *, variant: str) -> str:
    """One small query over counters that move whenever anything the session screen shows changes.

    Every change that moves a score is audited with the cluster's id (submissions, corrections,
    KPI values, KPI settings, round status, notes, actions), and the audit table is append-only:
    its row count for the cluster rises with every committed change, even when a transaction
    that took a lower id commits after one with a higher id. Participants joining by code are
    not audited, so they are counted. Nothing is kept in the process, so any app process answers.
    """
    audited = (
        select(func.count(col(AuditEvent.id)), func.max(AuditEvent.id))
        .where(AuditEvent.cluster_id == round_.cluster_id)
        .subquery()
    )
    participants = (
        select(func.count(col(Participant.id)))
        .where(Participant.cluster_id == round_.cluster_id, Participant.active == True)  # noqa: E712
        .scalar_subquery()
    )
    row = session.exec(select(audited.c[0], audited.c[1], participants)).one()
    return logic.live_etag("session-v1", round_.id, round_.status, variant, *row)


# --- history of the cluster's rounds, fetched at once -----------------------------------------------


@dataclass
class RoundResult:
    round: Round
    scores: scoring.RoundScores
    submitted: int
    values: dict[str, float | None]  # KPI key -> the value the engine used


def _rounds_up_to(session: Session, round_: Round) -> list[Round]:
    """The round and the rounds before it, oldest first: a session looks back, never ahead."""
    return [r for r in round_service.list_rounds(session, _cluster(session, round_)) if (r.id or 0) <= (round_.id or 0)]


def _cluster(session: Session, round_: Round) -> Cluster:
    return cluster_service.get_cluster(session, round_.cluster_id)


# Scores of a round are memoised per process under a key read from the database on every request:
# the round's submitted-response count and latest change, its entered KPI values, and the whole
# effective scorecard (baselines, targets, weights, activation, own KPIs) with the scoring rules.
# Any change to what a score rests on changes the key, so every app process stays correct on its
# own; the memo only spares recomputing the earlier rounds (trends) while members answer the current one.
round_results: "Memo[tuple[object, ...], RoundResult]" = Memo(512)


def _fingerprints(session: Session, ids: list[int]) -> dict[int, tuple[object, ...]]:
    responses = {
        round_id: (n, str(latest))
        for round_id, n, latest in session.exec(
            select(Response.round_id, func.count(), func.max(Response.updated_at))
            .where(col(Response.round_id).in_(ids), Response.status == "submitted")
            .group_by(col(Response.round_id))
        )
    }
    values = {
        round_id: (n, str(latest))
        for round_id, n, latest in session.exec(
            select(KpiValue.round_id, func.count(), func.max(KpiValue.updated_at))
            .where(col(KpiValue.round_id).in_(ids))
            .group_by(col(KpiValue.round_id))
        )
    }
    return {i: (responses.get(i, (0, None)), values.get(i, (0, None))) for i in ids}


def results(
    session: Session, rounds: list[Round], scorecard: Scorecard, rules: scoring.ScoringRules
) -> list[RoundResult]:
    """Scores of several rounds, the same numbers the scoring API gives round by round."""
    settings = hashlib.sha256(scorecard.model_dump_json().encode() + repr(rules).encode()).hexdigest()
    prints = _fingerprints(session, [r.id or 0 for r in rounds])
    keys = {r.id: (r.id, settings, prints[r.id or 0]) for r in rounds}
    found = {r.id: round_results.get(keys[r.id]) for r in rounds}
    missing = [r for r in rounds if found[r.id] is None]
    if missing:
        for result in _compute(session, missing, scorecard, rules):
            round_results.put(keys[result.round.id], result)
            found[result.round.id] = result
    out = []
    for round_ in rounds:
        cached = found[round_.id]
        assert cached is not None
        out.append(RoundResult(round_, cached.scores, cached.submitted, cached.values))
    return out


def _compute(
    session: Session, rounds: list[Round], scorecard: Scorecard, rules: scoring.ScoringRules
) -> list[RoundResult]:
    """The same inputs and engine as the scoring API, so the numbers agree with /scores."""
    inputs = scoring_service.rounds_inputs(session, rounds, scorecard)
    out = []
    for round_ in rounds:
        found = inputs[round_.id or 0]
        scores = scoring.score_round(found.perspectives, found.csfs, found.kpis, rules)
        out.append(RoundResult(round_, scores, found.submitted, {k.key: k.value for k in found.kpis}))
    return out


# --- the reflection session screen ----------------------------------------------------------------


@dataclass
class KpiRow:
    key: str
    title: str
    csf_title: str
    unit: str | None
    is_custom: bool
    level: str
    value: float | None
    baseline: float | None
    target: float | None
    achievement: float | None
    status: str | None
    standing: logic.KpiStanding
    note: str = ""
    yes_no: bool = False  # a yes/no fact for the cluster (1 yes, 0 no), not a number
    illustrative: bool = False  # an example the template's authors wrote, not an indicator of its source


@dataclass
class SessionView:
    cluster: Cluster
    round: Round
    scorecard: Scorecard
    rules: scoring.ScoringRules
    history: list[RoundResult]
    participants: int
    topics: list[logic.Topic]
    kpis: list[KpiRow]
    perspective_trends: dict[str, list[logic.TrendPoint]] = field(default_factory=dict)
    overall_trend: list[logic.TrendPoint] = field(default_factory=list)

    @property
    def current(self) -> RoundResult:
        return self.history[-1]

    @property
    def previous(self) -> RoundResult | None:
        return self.history[-2] if len(self.history) > 1 else None

    @property
    def response_rate(self) -> float | None:
        return logic.response_rate(self.current.submitted, self.participants)

    @property
    def contested(self) -> list[logic.Topic]:
        return [t for t in self.topics if t.contested]

    @property
    def uncontested(self) -> list[logic.Topic]:
        return [t for t in self.topics if not t.contested]


def session_view(session: Session, round_: Round, *, with_comments: bool, lang: str | None = None) -> SessionView:
    """Everything the projected screen shows for a round, with the template's labels in `lang` (when it has
    them); members' comments only for those who may read answers."""
    cluster = _cluster(session, round_)
    scorecard = cluster_service.scorecard(session, cluster, lang=lang)
    rules = scoring_service.rules_for(cluster_service.template_spec(session, cluster))
    history = results(session, _rounds_up_to(session, round_), scorecard, rules)
    current = history[-1].scores
    comments: dict[str, list[str]] = defaultdict(list)
    if with_comments:
        for csf_key, comment in session.exec(
            select(CsfRating.csf_key, CsfRating.comment)
            .join(Response, col(Response.id) == col(CsfRating.response_id))
            .where(Response.round_id == round_.id, Response.status == "submitted", CsfRating.comment != "")
            .order_by(col(CsfRating.id))
        ):
            comments[csf_key].append(comment)

    topics = []
    for perspective in scorecard.perspectives:
        for csf in perspective.csfs:
            result = current.csfs[csf.key]
            seen = result.perception
            topics.append(
                logic.Topic(
                    key=csf.key,
                    title=csf.title,
                    perspective_title=perspective.title,
                    score=result.score.value,
                    status=result.score.status,
                    ratings=seen.n,
                    mean=seen.mean,
                    disagreement=seen.disagreement,
                    contested=seen.contested,
                    bars=logic.distribution_bars(seen.distribution),
                    comments=comments.get(csf.key, []),
                )
            )

    notes = {row.kpi_key: row.note for row in round_service.kpi_values(session, round_)}
    csf_titles = {c.key: c.title for p in scorecard.perspectives for c in p.csfs}
    kpi_rows = []
    for kpi in scorecard.kpis():
        scored = current.kpis.get(kpi.key)
        if scored is None:
            continue
        kpi_rows.append(
            KpiRow(
                key=kpi.key,
                title=kpi.title,
                csf_title=csf_titles[kpi.csf_key],
                unit=kpi.unit,
                is_custom=kpi.is_custom,
                level=kpi.level,
                value=scored.value,
                baseline=kpi.baseline,
                target=kpi.target,
                achievement=scored.achievement,
                status=scored.score.status,
                standing=logic.kpi_standing(scored.value, kpi.baseline, kpi.target, kpi.direction),
                note=notes.get(kpi.key, ""),
                yes_no=kpi.type == "yes_no" and kpi.level == "cluster",
                illustrative=kpi.illustrative,
            )
        )
    view = SessionView(
        cluster=cluster,
        round=round_,
        scorecard=scorecard,
        rules=rules,
        history=history,
        participants=_active_participants(session, cluster),
        topics=logic.discussion_order(topics),
        kpis=kpi_rows,
    )
    view.overall_trend = [logic.TrendPoint(r.round.label, r.scores.overall.value) for r in history]
    view.perspective_trends = {
        p.key: [logic.TrendPoint(r.round.label, r.scores.perspectives[p.key].score.value) for r in history]
        for p in scorecard.perspectives
    }
    return view


def _active_participants(session: Session, cluster: Cluster) -> int:
    statement = select(func.count(col(Participant.id))).where(
        Participant.cluster_id == cluster.id,
        Participant.active == True,  # noqa: E712
    )
    return int(session.exec(statement).one())


# --- reflection notes and the action plan ---------------------------------------------------------


def _check_csf(session: Session, cluster: Cluster, csf_key: str | None) -> str | None:
    if not csf_key:
        return None
    if cluster_service.template_spec(session, cluster).csf(csf_key) is None:
        raise InvalidInput("No such success factor.", details=[{"field": "csf_key", "message": "Choose a factor."}])
    return csf_key


def notes_for(session: Session, round_id: int) -> list[ReflectionNote]:
    statement = select(ReflectionNote).where(ReflectionNote.round_id == round_id).order_by(col(ReflectionNote.id))
    return list(session.exec(statement))


def _note_text(text: str) -> str:
    """What a note says, as written in a new note and in a corrected one."""
    text = text.strip()
    if not text:
        raise InvalidInput("The note is empty.", details=[{"field": "text", "message": "Write what was concluded."}])
    return text[:4000]


def add_note(session: Session, round_: Round, *, csf_key: str | None, text: str, actor: str) -> ReflectionNote:
    text = _note_text(text)
    assert round_.id is not None
    note = ReflectionNote(
        round_id=round_.id, csf_key=_check_csf(session, _cluster(session, round_), csf_key), text=text
    )
    session.add(note)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="reflection_note",
        entity="reflection_note",
        entity_id=note.id,
        cluster_id=round_.cluster_id,
        after={"round_id": round_.id, "csf_key": note.csf_key, "text": note.text},
    )
    return note


def get_note(session: Session, round_: Round, note_id: int) -> ReflectionNote:
    note = session.get(ReflectionNote, note_id)
    if note is None or note.round_id != round_.id:
        raise NotFound("No such note.")
    return note


def change_note(session: Session, round_: Round, note: ReflectionNote, *, text: str | None, actor: str) -> None:
    """A note corrected (`text`) or taken back (None) while the session runs; the audit trail keeps what it
    said before."""
    before = {"round_id": round_.id, "csf_key": note.csf_key, "text": note.text}
    if text is None:
        session.delete(note)
        after = None
    else:
        text = _note_text(text)
        if text == note.text:
            return
        note.text = text
        session.add(note)
        after = before | {"text": text}
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="reflection_note_removed" if after is None else "reflection_note_changed",
        entity="reflection_note",
        entity_id=note.id,
        cluster_id=round_.cluster_id,
        before=before,
        after=after,
    )


def previous_round(session: Session, round_: Round) -> Round | None:
    earlier = _rounds_up_to(session, round_)[:-1]
    return earlier[-1] if earlier else None


def actions_for(session: Session, cluster_id: int) -> list[ActionItem]:
    statement = select(ActionItem).where(ActionItem.cluster_id == cluster_id).order_by(col(ActionItem.id))
    return list(session.exec(statement))


def action_views(session: Session, round_: Round) -> tuple[list[logic.ActionView], list[logic.ActionView]]:
    """(unfinished actions from earlier rounds, to review first; actions agreed in this round)."""
    earlier = {r.id for r in _rounds_up_to(session, round_)[:-1] if r.id is not None}
    views = [
        logic.ActionView(a.id or 0, a.round_id, a.csf_key, a.title, a.owner, a.due_date, a.status)
        for a in actions_for(session, round_.cluster_id)
    ]
    return logic.split_actions(views, round_.id or 0, earlier)


def add_action(
    session: Session,
    round_: Round,
    *,
    title: str,
    owner: str,
    due_date: date | None,
    csf_key: str | None,
    actor: str,
) -> ActionItem:
    title = title.strip()
    if not title:
        raise InvalidInput(
            "The action has no title.", details=[{"field": "title", "message": "Say what will be done."}]
        )
    assert round_.id is not None
    action = ActionItem(
        cluster_id=round_.cluster_id,
        round_id=round_.id,
        csf_key=_check_csf(session, _cluster(session, round_), csf_key),
        title=title[:300],
        owner=owner.strip()[:200],
        due_date=due_date,
    )
    session.add(action)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="action_added",
        entity="action_item",
        entity_id=action.id,
        cluster_id=round_.cluster_id,
        after={"round_id": round_.id, "title": action.title, "owner": action.owner, "due_date": str(due_date or "")},
    )
    return action


def get_action(session: Session, cluster_id: int, action_id: int) -> ActionItem:
    action = session.get(ActionItem, action_id)
    if action is None or action.cluster_id != cluster_id:
        raise NotFound("No such action.")
    return action


def set_action_status(session: Session, action: ActionItem, status: str, *, actor: str) -> ActionItem:
    if status not in logic.ACTION_STATUSES:
        raise InvalidInput("Unknown status.", details=[{"field": "status", "message": "Choose a status."}])
    if status == action.status:
        return action
    audit.record(
        session,
        actor=actor,
        action="action_status",
        entity="action_item",
        entity_id=action.id,
        cluster_id=action.cluster_id,
        before={"status": action.status},
        after={"status": status},
    )
    action.status, action.updated_at = status, utcnow()
    session.add(action)
    session.flush()
    return action


# --- rounds ------------------------------------------------------------------------------------


@dataclass
class Answered:
    participant: Participant
    status: str  # none, draft, submitted


def who_answered(session: Session, round_: Round) -> list[Answered]:
    """Every active participant with the state of their response, so the facilitator can follow up."""
    statuses = dict(
        session.exec(select(Response.participant_id, Response.status).where(Response.round_id == round_.id)).all()
    )
    participants = [p for p in cluster_service.list_participants(session, _cluster(session, round_)) if p.active]
    return [Answered(p, statuses.get(p.id or 0, "none")) for p in participants]


def cluster_kpis(scorecard: Scorecard) -> list[ScorecardKpi]:
    """The active KPIs the facilitator enters a value for."""
    return [k for k in scorecard.kpis() if k.level == "cluster" and k.active]


# --- template upgrade -----------------------------------------------------------------------------


def newer_versions(session: Session, cluster: Cluster) -> list[TemplateVersion]:
    current = scorecard_service.get_version(session, cluster.template_version_id)
    return [v for v in scorecard_service.list_versions(session, key=current.key) if (v.id or 0) > (current.id or 0)]


@dataclass
class UpgradePreview:
    current: TemplateVersion
    target: TemplateVersion
    changes: list[logic.TemplateChange]
    blocked_by: list[str]  # own KPIs whose CSF the new version no longer has


def upgrade_preview(session: Session, cluster: Cluster, version_id: int) -> UpgradePreview:
    current = scorecard_service.get_version(session, cluster.template_version_id)
    target = scorecard_service.get_version(session, version_id)
    if target.key != current.key or (target.id or 0) <= (current.id or 0):
        raise Conflict(
            "Version %(version)s of %(template)s is not a newer version of this cluster's template.",
            version=target.version,
            template=target.key,
        )
    old, new = scorecard_service.spec_of(current), scorecard_service.spec_of(target)
    rows = cluster_service.kpi_rows(session, cluster)
    custom = {key: row.csf_key for key, row in rows.items() if row.is_custom}
    return UpgradePreview(current, target, logic.template_diff(old, new), logic.orphaned_custom_kpis(custom, new))


def upgrade_template(session: Session, cluster: Cluster, version_id: int, *, actor: str) -> UpgradePreview:
    """Move the cluster to a newer version of its template, keeping its own settings for KPIs that stay.

    New template KPIs start with the template's baseline, target and weight; KPIs the new version
    drops keep their row (and past answers), they simply no longer appear on the scorecard.
    """
    preview = upgrade_preview(session, cluster, version_id)
    if preview.blocked_by:
        raise Conflict(
            "Some of the cluster's own KPIs belong to success factors the new version no longer has: %(kpis)s",
            kpis=", ".join(preview.blocked_by),
        )
    assert cluster.id is not None
    rows = cluster_service.kpi_rows(session, cluster)
    for _perspective, csf, kpi in scorecard_service.spec_of(preview.target).iter_kpis():
        row = rows.get(kpi.key)
        if row is None:
            row = cluster_service.template_kpi_row(cluster.id, csf.key, kpi)
        elif row.is_custom:
            raise Conflict(
                "The new version adds a KPI %(kpi)s, a key the cluster already uses for its own KPI.", kpi=kpi.key
            )
        row.csf_key = csf.key
        session.add(row)
    audit.record(
        session,
        actor=actor,
        action="template_upgraded",
        entity="cluster",
        entity_id=cluster.id,
        cluster_id=cluster.id,
        before={"template_version_id": preview.current.id, "version": preview.current.version},
        after={"template_version_id": preview.target.id, "version": preview.target.version},
    )
    cluster.template_version_id = preview.target.id or cluster.template_version_id
    session.add(cluster)
    session.flush()
    return preview


# --- exports -------------------------------------------------------------------------------------


def raw_answers(session: Session, round_: Round) -> list[dict[str, object]]:
    """One row per answer or rating of a submitted response, with who gave it: yes/no as booleans, numbers
    as numbers, the time of submission as a time (exports write them for people)."""
    scorecard = cluster_service.scorecard(session, _cluster(session, round_))
    kpis = {k.key: k for k in scorecard.kpis()}
    titles = {k.key: k.title for k in scorecard.kpis()} | {
        c.key: c.title for p in scorecard.perspectives for c in p.csfs
    }
    rows: list[dict[str, object]] = []
    submitted = (
        select(Response, Participant)
        .join(Participant, col(Participant.id) == col(Response.participant_id))
        .where(Response.round_id == round_.id, Response.status == "submitted")
        .order_by(col(Participant.organisation), col(Response.id))
    )
    responses = list(session.exec(submitted))
    by_id = {r.id: (r, p) for r, p in responses}
    answers = session.exec(
        select(Answer).where(col(Answer.response_id).in_(list(by_id))).order_by(col(Answer.response_id), col(Answer.id))
    )
    ratings = session.exec(
        select(CsfRating)
        .where(col(CsfRating.response_id).in_(list(by_id)))
        .order_by(col(CsfRating.response_id), col(CsfRating.id))
    )
    for answer in answers:
        response, participant = by_id[answer.response_id]
        kpi = kpis.get(answer.kpi_key)
        value: object = answer.value_text if answer.value_text is not None else answer.value_num
        if kpi is not None and kpi.type == "yes_no" and answer.value_num is not None:
            value = answer.value_num == 1
        rows.append(_answer_row(round_, response, participant, "kpi", answer.kpi_key, titles))
        rows[-1].update(value=value, comment="")
    for rating in ratings:
        response, participant = by_id[rating.response_id]
        rows.append(_answer_row(round_, response, participant, "csf_rating", rating.csf_key, titles))
        rows[-1].update(value=rating.rating, comment=rating.comment)
    return rows


def answer_columns(scorecard: Scorecard) -> tuple[list[str], list[str]]:
    """The questions of the round in form order, for the one-row-per-member layout: KPI keys, CSF keys."""
    kpi_keys = [k.key for k in scorecard.kpis() if k.active and k.level == "member"]
    return kpi_keys, [c.key for p in scorecard.perspectives for c in p.csfs]


def _answer_row(
    round_: Round, response: Response, participant: Participant, kind: str, key: str, titles: dict[str, str]
) -> dict[str, object]:
    return {
        "round": round_.label,
        "participant_id": participant.id,
        "organisation": participant.organisation,
        "organisation_type": participant.organisation_type,
        "submitted_at": response.submitted_at,
        "kind": kind,
        "key": key,
        "title": titles.get(key, key),
    }
