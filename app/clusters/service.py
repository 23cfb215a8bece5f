"""Programmes, cluster initiatives, their scorecards and participants."""

from typing import Any

from pydantic import ValidationError
from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import update as sa_update
from sqlmodel import Session, col, func, select

from app.audit import service as audit
from app.clusters.models import Cluster, ClusterKpi, Participant, Programme
from app.clusters.schemas import (
    ClusterCreate,
    ClusterUpdate,
    CustomKpiCreate,
    KpiSettingsUpdate,
    ParticipantCreate,
    ProgrammeCreate,
    Scorecard,
    ScorecardCsf,
    ScorecardKpi,
    ScorecardPerspective,
)
from app.errors import Conflict, InvalidInput, NotFound
from app.memo import Memo
from app.scorecards import service as scorecard_service
from app.scorecards.schema import CsfSpec, KpiSpec, PerspectiveSpec, TemplateSpec, is_fallback, localize

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
        session.add(
            ClusterKpi(
                cluster_id=cluster.id,
                key=kpi.key,
                csf_key=csf.key,
                baseline=kpi.baseline,
                target=kpi.target,
                weight=kpi.weight,
            )
        )
    session.flush()
    return cluster


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
# member request needs one, and building it took a seventh of an autosave (bench/load.py); the key comes with the
# cluster row the request has read anyway.
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
                        unit=localize(kpi.unit, lang, fallback),
                        direction=kpi.direction,
                        aggregate=kpi.aggregate,
                        per_member=kpi.per_member,
                        is_custom=False,
                        active=settings.active if settings else True,
                        baseline=settings.baseline if settings else kpi.baseline,
                        target=settings.target if settings else kpi.target,
                        weight=settings.weight if settings else kpi.weight,
                        illustrative=kpi.illustrative,
                        fallback=_fallbacks(kpi, ("title", "question"), lang, fallback),
                    )
                )
            kpis.extend(_custom_kpi_view(row) for row in custom_by_csf.get(csf.key, []))
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


def _custom_kpi_view(row: ClusterKpi) -> ScorecardKpi:
    return ScorecardKpi(
        key=row.key,
        csf_key=row.csf_key,
        title=row.title or row.key,
        level=row.level or "cluster",
        question=row.question,
        type=row.kpi_type or "number",
        unit=row.unit,
        direction=row.direction or "increase",
        aggregate=row.aggregate,
        per_member=row.per_member,
        is_custom=True,
        active=row.active,
        baseline=row.baseline,
        target=row.target,
        weight=row.weight,
        language=row.language,
    )


def update_kpi_settings(
    session: Session, cluster: Cluster, key: str, data: KpiSettingsUpdate, *, actor: str
) -> ClusterKpi:
    row = kpi_rows(session, cluster).get(key)
    if row is None:
        raise NotFound("The scorecard of this cluster has no KPI '%(key)s'.", key=key)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("active") is None:
        changes.pop("active", None)
    if changes.get("weight") is None:
        changes.pop("weight", None)
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


def add_custom_kpi(session: Session, cluster: Cluster, data: CustomKpiCreate, *, actor: str) -> ClusterKpi:
    """Cluster-defined KPIs obey the same rules as template KPIs: they are checked by the template schema."""
    assert cluster.id is not None
    spec = template_spec(session, cluster)
    if spec.csf(data.csf_key) is None:
        raise InvalidInput("The scorecard has no CSF '%(key)s'.", key=data.csf_key)
    if data.key in kpi_rows(session, cluster):
        raise Conflict("This scorecard already has a KPI with key '%(key)s'.", key=data.key)
    try:
        kpi = KpiSpec.model_validate(
            {**data.model_dump(exclude={"csf_key", "kpi_type", "language"}, exclude_none=True), "type": data.kpi_type}
        )
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
        baseline=kpi.baseline,
        target=kpi.target,
        weight=kpi.weight,
        title=data.title,
        question=data.question,
        level=kpi.level,
        kpi_type=kpi.type,
        unit=data.unit,
        direction=kpi.direction,
        aggregate=kpi.aggregate,
        language=data.language,
    )
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
    return participant


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
