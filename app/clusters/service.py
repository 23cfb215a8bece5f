"""Programmes, cluster initiatives, their scorecards and participants."""

from typing import Any

from pydantic import ValidationError
from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import update as sa_update
from sqlmodel import Session, col, func, select

from app.audit import service as audit
from app.clusters import roster
from app.clusters.models import Cluster, ClusterKpi, Participant, Programme
from app.clusters.schemas import (
    ClusterCreate,
    ClusterUpdate,
    CustomKpiCreate,
    KpiSettingsUpdate,
    OrganisationType,
    ParticipantCreate,
    ProgrammeCreate,
    Scorecard,
    ScorecardCsf,
    ScorecardKpi,
    ScorecardPerspective,
)
from app.errors import Conflict, InvalidInput, NotFound
from app.i18n.translation import _l
from app.memo import Memo
from app.scorecards import service as scorecard_service
from app.scorecards import values
from app.scorecards.schema import CsfSpec, KpiSpec, PerspectiveSpec, TemplateSpec, is_fallback, localize

# What peer groups are made of; set by the programme's agency staff (app.auth.policy).
BENCHMARK_ATTRIBUTES = ("sector", "country", "region", "typology", "stage")

DEFAULT_AGGREGATE = {
    "yes_no": "count_yes",
    "count": "sum",
    "number": "sum",
    "percent": "mean",
    "rating": "mean",
}


def create_programme(session: Session, data: ProgrammeCreate) -> Programme:
    programme = Programme(**data.model_dump())
    session.add(programme)
    session.flush()
    return programme


def list_programmes(session: Session) -> list[Programme]:
    return list(session.exec(select(Programme).order_by(col(Programme.id))))


def get_programme(session: Session, programme_id: int) -> Programme:
    programme = session.get(Programme, programme_id)
    if programme is None:
        raise NotFound("No such programme.")
    return programme


def create_cluster(session: Session, programme: Programme, data: ClusterCreate) -> Cluster:
    assert programme.id is not None
    version = scorecard_service.get_version(session, data.template_version_id)
    cluster = Cluster(programme_id=programme.id, **data.model_dump(mode="json"))
    session.add(cluster)
    session.flush()
    assert cluster.id is not None
    for _perspective, csf, kpi in scorecard_service.spec_of(version).iter_kpis():
        session.add(template_kpi_row(cluster.id, csf.key, kpi))
    session.flush()
    return cluster


def template_kpi_row(cluster_id: int, csf_key: str, kpi: KpiSpec) -> ClusterKpi:
    """A template KPI's row for a cluster, starting from the template's baseline, target and weight."""
    return ClusterKpi(
        cluster_id=cluster_id,
        key=kpi.key,
        csf_key=csf_key,
        baseline=kpi.baseline,
        target=kpi.target,
        weight=kpi.weight,
    )


def list_clusters(session: Session, *, programme_id: int | None = None) -> list[Cluster]:
    statement = select(Cluster).order_by(col(Cluster.id))
    if programme_id is not None:
        statement = statement.where(Cluster.programme_id == programme_id)
    return list(session.exec(statement))


def get_cluster(session: Session, cluster_id: int) -> Cluster:
    cluster = session.get(Cluster, cluster_id)
    if cluster is None:
        raise NotFound("No such cluster.")
    return cluster


def update_cluster(session: Session, cluster: Cluster, data: ClusterUpdate, *, actor: str) -> Cluster:
    changes = data.model_dump(mode="json", exclude_unset=True)
    before = {field: getattr(cluster, field) for field in changes}
    for field, value in changes.items():
        setattr(cluster, field, value)
    moved = {f: v for f, v in changes.items() if f in BENCHMARK_ATTRIBUTES and before[f] != v}
    if moved:
        # Which peer groups a cluster falls in: every move is on record (docs/disclosure.md, rule 2).
        audit.record(
            session,
            actor=actor,
            action="benchmark_attributes",
            entity="cluster",
            entity_id=cluster.id,
            cluster_id=cluster.id,
            before={f: before[f] for f in moved},
            after=moved,
        )
    if "shares_benchmarks" in changes and before["shares_benchmarks"] != changes["shares_benchmarks"]:
        # Consent to appear in benchmarks is a decision others rely on: keep its history.
        audit.record(
            session,
            actor=actor,
            action="benchmark_consent",
            entity="cluster",
            entity_id=cluster.id,
            cluster_id=cluster.id,
            before={"shares_benchmarks": before["shares_benchmarks"]},
            after={"shares_benchmarks": changes["shares_benchmarks"]},
        )
    session.add(cluster)
    session.flush()
    return cluster


def template_spec(session: Session, cluster: Cluster) -> TemplateSpec:
    return scorecard_service.spec_of_version(session, cluster.template_version_id)


def kpi_rows(session: Session, cluster: Cluster) -> dict[str, ClusterKpi]:
    rows = session.exec(select(ClusterKpi).where(ClusterKpi.cluster_id == cluster.id))
    return {row.key: row for row in rows}


# Built scorecards by what they are built from: the cluster's scorecard version (raised below with every change to
# its KPI rows or template version, by whichever process makes it), the template version and the language. Every
# member request needs one and building it is costly (docs/benchmarks.md); the key comes with the cluster row the
# request has read anyway.
built_scorecards: Memo[tuple[Any, ...], Scorecard] = Memo(256)
_CHANGED_SCORECARDS = "clusters_changed_scorecards"


@event.listens_for(Session, "after_flush")
def _raise_scorecard_versions(session: Session, _flush: Any) -> None:
    """In SQL (version + 1), so that two processes changing one cluster at once cannot both write the same
    version; in the flush, so that no service function can change a KPI row and forget it."""
    changed: set[int | None] = {
        row.cluster_id for row in (*session.new, *session.deleted) if isinstance(row, ClusterKpi)
    }
    changed |= {row.cluster_id for row in session.dirty if isinstance(row, ClusterKpi) and session.is_modified(row)}
    changed |= {
        row.id
        for row in session.dirty
        if isinstance(row, Cluster) and sa_inspect(row).attrs.template_version_id.history.has_changes()
    }
    changed.discard(None)
    if changed:
        raise_version = col(Cluster.scorecard_version) + 1
        session.connection().execute(
            sa_update(Cluster).where(col(Cluster.id).in_(changed)).values(scorecard_version=raise_version)
        )
        session.info.setdefault(_CHANGED_SCORECARDS, set()).update(changed)


@event.listens_for(Session, "after_flush_postexec")
def _reload_scorecard_versions(session: Session, _flush: Any) -> None:
    for cluster_id in session.info.pop(_CHANGED_SCORECARDS, ()):
        cluster = session.identity_map.get(sa_inspect(Cluster).identity_key_from_primary_key((cluster_id,)))
        if cluster is not None:
            session.expire(cluster, ["scorecard_version"])


def scorecard(session: Session, cluster: Cluster, *, lang: str | None = None) -> Scorecard:
    """The template merged with the cluster's settings and its own KPIs, labels in `lang`.

    Shared between requests: treat it as read-only (its models are frozen). `cluster` as this request read it.
    """
    assert cluster.id is not None
    # The creation time with the id: an id alone can come back (SQLite reuses the highest after a delete, a
    # database can be restored, and the tests start a new database each, in one process).
    key = (cluster.id, cluster.created_at, cluster.scorecard_version, cluster.template_version_id, lang)
    built = built_scorecards.get(key)
    if built is None:
        built = _build_scorecard(session, cluster, lang)
        built_scorecards.put(key, built)
    return built


def _build_scorecard(session: Session, cluster: Cluster, lang: str | None) -> Scorecard:
    assert cluster.id is not None
    spec = template_spec(session, cluster)
    fallback = spec.languages[0]
    # A language the template does not declare gets the fallback language throughout (the page says
    # so once), rather than every label marked as untranslated.
    lang = lang if lang in spec.languages else fallback
    rows = kpi_rows(session, cluster)
    scale = (float(spec.rating_scale.min), float(spec.rating_scale.max))
    custom_by_csf: dict[str, list[ClusterKpi]] = {}
    for row in rows.values():
        if row.is_custom:
            custom_by_csf.setdefault(row.csf_key, []).append(row)

    perspectives = []
    for perspective in spec.perspectives:
        csfs = []
        for csf in perspective.csfs:
            kpis = []
            for kpi in csf.kpis:
                settings = rows.get(kpi.key)
                kpis.append(
                    ScorecardKpi(
                        key=kpi.key,
                        csf_key=csf.key,
                        title=localize(kpi.title, lang, fallback) or kpi.key,
                        level=kpi.level,
                        question=localize(kpi.question, lang, fallback),
                        type=kpi.type,
                        unit=_unit(localize(kpi.unit, lang, fallback), kpi.type, kpi.aggregate),
                        direction=kpi.direction,
                        aggregate=kpi.aggregate,
                        per_member=kpi.per_member,
                        is_custom=False,
                        active=settings.active if settings else True,
                        **_goal(
                            kpi.type,
                            kpi.level,
                            kpi.direction,
                            settings.baseline if settings else kpi.baseline,
                            settings.target if settings else kpi.target,
                        ),
                        weight=settings.weight if settings else kpi.weight,
                        **_answer_bounds(kpi.type, kpi.min, kpi.max, scale),
                        asked_of=kpi.asked_of or "all",
                        illustrative=kpi.illustrative,
                        fallback=_fallbacks(kpi, ("title", "question"), lang, fallback),
                    )
                )
            kpis.extend(_custom_kpi_view(row, scale) for row in custom_by_csf.get(csf.key, []))
            csfs.append(
                ScorecardCsf(
                    key=csf.key,
                    title=localize(csf.title, lang, fallback) or csf.key,
                    rating_question=csf.question(lang, fallback),
                    weight=csf.weight,
                    kpis=kpis,
                    fallback=_fallbacks(csf, ("title", "rating_question"), lang, fallback),
                )
            )
        perspectives.append(
            ScorecardPerspective(
                key=perspective.key,
                title=localize(perspective.title, lang, fallback) or perspective.key,
                weight=perspective.weight,
                csfs=csfs,
                fallback=_fallbacks(perspective, ("title",), lang, fallback),
            )
        )
    return Scorecard(
        cluster_id=cluster.id,
        template_key=spec.key,
        template_version=spec.version,
        language=lang,
        languages=list(spec.languages),
        fallback_language=fallback,
        rating_min=spec.rating_scale.min,
        rating_max=spec.rating_scale.max,
        rating_labels={
            point: localize(label, lang, fallback) or str(point) for point, label in spec.rating_scale.labels.items()
        },
        perspectives=perspectives,
    )


def _fallbacks(
    spec: KpiSpec | CsfSpec | PerspectiveSpec, fields: tuple[str, ...], lang: str, fallback: str
) -> list[str]:
    """Which of these labels are shown in the fallback language because the template lacks `lang`."""
    marked = [name for name in fields if is_fallback(getattr(spec, name, None), lang, fallback)]
    if isinstance(spec, CsfSpec) and spec.rating_question is None and "title" in marked:
        marked.append("rating_question")  # the generated question quotes the untranslated title
    return marked


def _unit(unit: str | None, kpi_type: str, aggregate: str | None) -> str | None:
    """Percentages, and shares of yes answers (0 to 100, never a fraction), say so: "%"."""
    if unit is None and (kpi_type == "percent" or aggregate == "share_yes"):
        return "%"
    return unit


def _goal(
    kpi_type: str, level: str, direction: str, baseline: float | None, target: float | None
) -> dict[str, float | None]:
    """A facilitator's yes/no fact goes from no (0) to yes (1), or the other way when yes is worse: scored 100
    when the answer is the target's, 0 otherwise, with nothing to set."""
    if kpi_type == "yes_no" and level == "cluster":
        better = 1.0 if direction == "increase" else 0.0
        baseline = 1.0 - better if baseline is None else baseline
        target = better if target is None else target
    return {"baseline": baseline, "target": target}


def _answer_bounds(
    kpi_type: str, minimum: float | None, maximum: float | None, scale: tuple[float, float]
) -> dict[str, float | None]:
    """The range an answer or a facilitator's value must lie in: the scale for ratings, else the type's range
    narrowed by the template (app.scorecards.values)."""
    bounds = scale if kpi_type == "rating" else values.answer_range(kpi_type, minimum, maximum)
    return {"min": bounds[0], "max": bounds[1]} if bounds else {"min": None, "max": None}


def _custom_kpi_view(row: ClusterKpi, scale: tuple[float, float]) -> ScorecardKpi:
    kpi_type = row.kpi_type or "number"
    return ScorecardKpi(
        key=row.key,
        csf_key=row.csf_key,
        title=row.title or row.key,
        level=row.level or "cluster",
        question=row.question,
        type=kpi_type,
        unit=_unit(row.unit, kpi_type, row.aggregate),
        direction=row.direction or "increase",
        aggregate=row.aggregate,
        per_member=row.per_member,
        is_custom=True,
        active=row.active,
        **_goal(kpi_type, row.level or "cluster", row.direction or "increase", row.baseline, row.target),
        weight=row.weight,
        **_answer_bounds(kpi_type, None, None, scale),
        asked_of=row.asked_of or "all",
        language=row.language,
    )


def update_kpi_settings(
    session: Session, cluster: Cluster, key: str, data: KpiSettingsUpdate, *, actor: str
) -> ClusterKpi:
    row = kpi_rows(session, cluster).get(key)
    kpi = scorecard(session, cluster).kpi(key)
    if row is None or kpi is None:
        raise NotFound("The scorecard of this cluster has no KPI '%(key)s'.", key=key)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("active") is None:
        changes.pop("active", None)
    if changes.get("weight") is None:
        changes.pop("weight", None)
    check_goal(kpi, baseline=changes.get("baseline", kpi.baseline), target=changes.get("target", kpi.target))
    before: dict[str, Any] = {field: getattr(row, field) for field in changes}
    for field, value in changes.items():
        setattr(row, field, value)
    if before != changes:
        audit.record(
            session,
            actor=actor,
            action="kpi_settings",
            entity="cluster_kpi",
            entity_id=row.id,
            cluster_id=cluster.id,
            before={"key": key, **before},
            after={"key": key, **changes},
        )
    session.add(row)
    session.flush()
    return row


def check_goal(kpi: ScorecardKpi, *, baseline: float | None, target: float | None) -> None:
    """Refuse (422, with the field) a baseline and target that could never be scored: app.scorecards.values."""
    if kpi.type == "yes_no" and kpi.level == "cluster" and not {baseline, target} <= {0.0, 1.0, None}:
        field = "baseline" if baseline not in (0.0, 1.0, None) else "target"
        message = _l("This indicator is answered yes or no: its baseline and target are no (0) and yes (1).")
        raise InvalidInput(message, details=[{"field": field, "message": message}])
    answers = (kpi.min, kpi.max) if kpi.min is not None and kpi.max is not None else None
    problem = values.goal_problem(
        baseline=baseline,
        target=target,
        direction=kpi.direction,
        aggregate=kpi.aggregate,
        values=values.goal_range(kpi.aggregate, answers),
    )
    if problem is not None:
        field, message = problem
        raise InvalidInput(message, details=[{"field": field, "message": message}])


def add_custom_kpi(session: Session, cluster: Cluster, data: CustomKpiCreate, *, actor: str) -> ClusterKpi:
    """Cluster-defined KPIs obey the same rules as template KPIs: they are checked by the template schema."""
    assert cluster.id is not None
    spec = template_spec(session, cluster)
    if spec.csf(data.csf_key) is None:
        raise InvalidInput("The scorecard has no CSF '%(key)s'.", key=data.csf_key)
    if data.key in kpi_rows(session, cluster):
        raise Conflict("This scorecard already has a KPI with key '%(key)s'.", key=data.key)
    # The goal is checked on the built KPI below, with the same (translated) messages as a template KPI's.
    definition = data.model_dump(exclude={"csf_key", "kpi_type", "language", "baseline", "target"}, exclude_none=True)
    try:
        kpi = KpiSpec.model_validate({**definition, "type": data.kpi_type})
    except ValidationError as exc:
        raise InvalidInput(
            "This indicator is not complete.",
            details=[{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()],
        ) from None
    row = ClusterKpi(
        cluster_id=cluster.id,
        key=kpi.key,
        csf_key=data.csf_key,
        is_custom=True,
        baseline=data.baseline,
        target=data.target,
        weight=kpi.weight,
        title=data.title,
        question=data.question,
        level=kpi.level,
        kpi_type=kpi.type,
        unit=data.unit,
        direction=kpi.direction,
        aggregate=kpi.aggregate,
        asked_of=kpi.asked_of,
        language=data.language,
    )
    scale = (float(spec.rating_scale.min), float(spec.rating_scale.max))
    check_goal(_custom_kpi_view(row, scale), baseline=data.baseline, target=data.target)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="kpi_added",
        entity="cluster_kpi",
        entity_id=row.id,
        cluster_id=cluster.id,
        after=data.model_dump(mode="json"),
    )
    return row


def add_participant(session: Session, cluster: Cluster, data: ParticipantCreate) -> Participant:
    assert cluster.id is not None
    participant = Participant(cluster_id=cluster.id, **data.model_dump(mode="json"))
    session.add(participant)
    session.flush()
    audit.data_changed(session, {cluster.id})  # not audited, but it changes the per-member denominators
    return participant


def update_participant(
    session: Session, participant: Participant, data: ParticipantCreate, *, actor: str
) -> Participant:
    """A correction (a misspelt name, a new email address); what changed is on record."""
    changes = {k: v for k, v in data.model_dump(mode="json").items() if getattr(participant, k) != v}
    if changes:
        audit.record(
            session,
            actor=actor,
            action="participant_changed",
            entity="participant",
            entity_id=participant.id,
            cluster_id=participant.cluster_id,
            before={k: getattr(participant, k) for k in changes},
            after=changes,
        )
        for key, value in changes.items():
            setattr(participant, key, value)
        session.add(participant)
        session.flush()
    return participant


def set_participant_active(session: Session, participant: Participant, active: bool, *, actor: str) -> None:
    if active:
        reactivate_participant(session, participant, actor=actor)
    else:
        deactivate_participant(session, participant, actor=actor)


def reactivate_participant(session: Session, participant: Participant, *, actor: str) -> None:
    """Back in the cluster (deactivated by mistake); links issued before stay switched off, a new one is needed."""
    if participant.active:
        return
    participant.active = True
    session.add(participant)
    audit.record(
        session,
        actor=actor,
        action="participant_reactivated",
        entity="participant",
        entity_id=participant.id,
        cluster_id=participant.cluster_id,
        before={"active": False},
        after={"active": True},
    )
    session.flush()


def participant_keys(session: Session, cluster: Cluster) -> set[tuple[str, str]]:
    """Organisation and person of every participant, as roster.key_of compares them (inactive ones too: an import
    must not bring back someone the facilitator removed)."""
    return {roster.key_of(p.organisation, p.person_name) for p in list_participants(session, cluster)}


def import_participants(
    session: Session, cluster: Cluster, planned: list[roster.PlannedRow], *, actor: str
) -> list[Participant]:
    """The rows the preview showed as new; refused and duplicate rows add nobody. One audit entry per import."""
    added = [
        add_participant(
            session,
            cluster,
            ParticipantCreate(
                organisation=row.values["organisation"],
                person_name=row.values.get("person_name", ""),
                email=row.values.get("email") or None,
                organisation_type=OrganisationType(row.values["organisation_type"]),
                language=row.values.get("language") or None,
            ),
        )
        for row in planned
        if row.adds
    ]
    if added:
        audit.record(
            session,
            actor=actor,
            action="participants_imported",
            entity="cluster",
            entity_id=cluster.id,
            cluster_id=cluster.id,
            after={"participant_ids": [p.id for p in added]},
        )
    return added


def deactivate_participant(session: Session, participant: Participant, *, actor: str) -> None:
    """Participants are never deleted: their submitted answers remain part of the record."""
    if not participant.active:
        return
    participant.active = False
    session.add(participant)
    audit.record(
        session,
        actor=actor,
        action="participant_deactivated",
        entity="participant",
        entity_id=participant.id,
        cluster_id=participant.cluster_id,
        before={"active": True},
        after={"active": False},
    )
    session.flush()


def list_participants(session: Session, cluster: Cluster) -> list[Participant]:
    statement = select(Participant).where(Participant.cluster_id == cluster.id).order_by(col(Participant.id))
    return list(session.exec(statement))


def count_active_participants(session: Session, cluster: Cluster) -> int:
    """Counted in the database: a member's thank-you page shows it, and a cluster may have hundreds."""
    statement = select(func.count()).where(Participant.cluster_id == cluster.id, col(Participant.active))
    return session.exec(statement).one()


def get_participant(session: Session, participant_id: int) -> Participant:
    participant = session.get(Participant, participant_id)
    if participant is None:
        raise NotFound("No such participant.")
    return participant


def member_firm_count(session: Session, cluster: Cluster) -> int:
    """Denominator of `per_member` KPIs: active participants that are firms."""
    return len(
        session.exec(
            select(Participant.id).where(
                Participant.cluster_id == cluster.id,
                Participant.organisation_type == "firm",
                Participant.active == True,  # noqa: E712
            )
        ).all()
    )
