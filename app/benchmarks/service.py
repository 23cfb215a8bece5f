"""Benchmarks across cluster initiatives, read from per-round roll-ups of core scores.

Roll-ups (app/benchmarks/models.py) hold, per round, the core scores the scoring engine computes
(`scoring.service.round_scores(core_only=True)`: template KPIs and CSF ratings, never the cluster's
own KPIs) and the raw values of template KPIs, `per_member` counts divided by the cluster's member
firms. A cluster's roll-up is recomputed, one round at a time, when its source stamp changes; the
stamp is read with one SQL statement for the whole population on every benchmark request, so a
new submission shows in the next benchmark without any other domain having to call in here, and
the process never holds more than one round's answers at once.

Reading: the heat map reads one value per cluster and CSF; a peer comparison on PostgreSQL has the
database compute quartiles and ranks over the roll-ups (percentile_cont), and only which clusters
lack a value comes into Python for the disclosure control. On SQLite the same numbers are computed
in Python from the period's roll-up values (scoring.logic's quartile and rank rules on both paths).
"""

import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import yaml
from sqlalchemy import ARRAY, Integer, any_, bindparam, delete, func, insert, text
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.audit.models import AuditEvent
from app.auth import policy
from app.auth.principal import Principal
from app.benchmarks import logic
from app.benchmarks.models import BenchmarkSource, BenchmarkValue
from app.benchmarks.schemas import (
    Distribution,
    DistributionPoint,
    Heatmap,
    HeatmapRow,
    Measure,
    Observatory,
    ObservatoryCsf,
    ObservedKpi,
    PeerMeasure,
    PeerStatsRead,
    Profile,
    SimilarGroup,
    TrendPoint,
)
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, ClusterKpi, Participant
from app.errors import InvalidInput, NotFound
from app.i18n.translation import _l, _nl
from app.rounds.models import Round
from app.scorecards import service as scorecard_service
from app.scorecards.models import TemplateVersion
from app.scorecards.parsing import TemplateInvalid, parse_template
from app.scorecards.schema import TemplateSpec, localize
from app.scoring import service as scoring_service
from app.scoring.schemas import RoundScoresRead
from app.timeutil import utcnow


def _among(session: Session, column: Any, ids: Sequence[int]) -> Any:
    """`column IN ids` for a thousand ids: one array parameter on PostgreSQL (an IN list of a thousand
    placeholders costs more to build and parse than the query takes to run), a plain IN elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return column.in_(list(ids))


# --- roll-ups ---------------------------------------------------------------------------


def _stamps(session: Session, cluster_ids: Sequence[int]) -> dict[int, str]:
    """What each cluster's core scores depend on, in one statement: the newest audit event of the
    cluster (submissions, corrections, KPI values and settings, round status, deactivations are all
    audited), its active member firms (the per_member denominator; adding a participant is not
    audited) and its template version."""
    if not cluster_ids:
        return {}
    last_event = select(func.max(AuditEvent.id)).where(AuditEvent.cluster_id == Cluster.id).scalar_subquery()
    firms = (
        select(func.count(col(Participant.id)))
        .where(
            Participant.cluster_id == Cluster.id,
            Participant.organisation_type == "firm",
            Participant.active == True,  # noqa: E712
        )
        .scalar_subquery()
    )
    statement = select(Cluster.id, Cluster.template_version_id, last_event, firms).where(
        _among(session, col(Cluster.id), cluster_ids)
    )
    return {cid or 0: f"{event or 0}:{n}:{version}" for cid, version, event, n in session.exec(statement)}


def measures_of(scores: RoundScoresRead, per_member: set[str], firms: int) -> dict[str, float]:
    """The benchmark measures of one round's core scores; measures without a value are left out."""
    out: dict[str, float] = {}
    if scores.overall.value is not None:
        out["overall"] = scores.overall.value
    for p in scores.perspectives:
        if p.score.value is not None:
            out[f"perspective:{p.key}"] = p.score.value
    for c in scores.csfs:
        if c.score.value is not None:
            out[f"csf:{c.key}"] = c.score.value
    for k in scores.kpis:
        if not k.core or k.value is None:
            continue
        if k.key in per_member:
            if firms == 0:
                continue
            out[f"kpi:{k.key}"] = k.value / firms
        else:
            out[f"kpi:{k.key}"] = k.value
    return out


def refresh_cluster(session: Session, cluster: Cluster, stamp: str) -> None:
    """Recompute a cluster's roll-up round by round (only one round's answers in memory at a time)."""
    assert cluster.id is not None
    spec = cluster_service.template_spec(session, cluster)
    per_member = {kpi.key for _, _, kpi in spec.iter_kpis() if kpi.per_member}
    firms = cluster_service.member_firm_count(session, cluster)
    session.execute(delete(BenchmarkValue).where(col(BenchmarkValue.cluster_id) == cluster.id))
    rounds = session.exec(select(Round).where(Round.cluster_id == cluster.id, Round.status != "draft")).all()
    rows = []
    for round_ in rounds:
        assert round_.id is not None
        scores = scoring_service.round_scores(session, round_, core_only=True)
        for measure, value in measures_of(scores, per_member, firms).items():
            rows.append({"round_id": round_.id, "cluster_id": cluster.id, "measure": measure, "value": value})
    if rows:
        # One multi-row INSERT rather than an ORM object per value, which would also flush before every query.
        session.execute(insert(BenchmarkValue), rows)
    source = session.get(BenchmarkSource, cluster.id)
    if source is None:
        source = BenchmarkSource(cluster_id=cluster.id, stamp=stamp)
    source.stamp, source.refreshed_at = stamp, utcnow()
    session.add(source)
    session.flush()


def refresh(session: Session, cluster_ids: Sequence[int]) -> int:
    """Bring the roll-ups of these clusters up to date; returns how many were recomputed."""
    current = _stamps(session, cluster_ids)
    stored = dict(
        session.exec(
            select(BenchmarkSource.cluster_id, BenchmarkSource.stamp).where(
                _among(session, col(BenchmarkSource.cluster_id), list(current))
            )
        ).all()
    )
    stale = [cid for cid, stamp in current.items() if stored.get(cid) != stamp]
    for cid in stale:
        # A savepoint per cluster: two requests refreshing the same cluster at once must not fail
        # each other; the loser's work is simply the winner's.
        try:
            with session.begin_nested():
                refresh_cluster(session, cluster_service.get_cluster(session, cid), current[cid])
        except IntegrityError:
            continue
    return len(stale)


# --- population, rounds and values ------------------------------------------------------


@dataclass(frozen=True)
class Member:
    cluster_id: int
    name: str
    programme_id: int
    peer: logic.Peer


def _population(session: Session, template_key: str) -> list[Member]:
    """Clusters on any version of the template that agreed to share (the only ones ever compared)."""
    statement = (
        sa_select(
            col(Cluster.id),
            col(Cluster.name),
            col(Cluster.programme_id),
            col(Cluster.sector),
            col(Cluster.country),
            col(Cluster.region),
            col(Cluster.typology),
            col(Cluster.stage),
        )
        .join(TemplateVersion, col(TemplateVersion.id) == col(Cluster.template_version_id))
        .where(col(TemplateVersion.key) == template_key, col(Cluster.shares_benchmarks).is_(True))
        .order_by(col(Cluster.name), col(Cluster.id))
    )
    return [_member(*row) for row in session.connection().execute(statement)]


def _member(
    cluster_id: int | None,
    name: str,
    programme_id: int,
    sector: str,
    country: str,
    region: str,
    typology: str | None,
    stage: str | None,
) -> Member:
    assert cluster_id is not None
    attributes = {
        "programme": str(programme_id),
        "sector": sector,
        "country": country,
        "region": region,
        "typology": typology,
        "stage": stage,
    }
    return Member(cluster_id, name, programme_id, logic.Peer(cluster_id, attributes))


def _member_of(c: Cluster) -> Member:
    return _member(c.id, c.name, c.programme_id, c.sector, c.country, c.region, c.typology, c.stage)


@dataclass(frozen=True)
class RoundRef:
    round_id: int
    label: str
    status: str


def _rounds_by_period(
    session: Session, cluster_ids: Sequence[int], *, closed_only: bool
) -> dict[int, dict[str, RoundRef]]:
    """Each cluster's round per benchmark period (logic.period_of; the latest round of a period counts)."""
    if not cluster_ids:
        return {}
    statuses = ["closed"] if closed_only else ["open", "closed"]
    rows = (
        session.connection()
        .execute(
            sa_select(
                col(Round.id),
                col(Round.cluster_id),
                col(Round.label),
                col(Round.status),
                col(Round.period_start),
                col(Round.period_end),
                col(Round.created_at),
            ).where(_among(session, col(Round.cluster_id), cluster_ids), col(Round.status).in_(statuses))
        )
        .all()
    )
    per_cluster: dict[int, list[tuple[int, str, date, int]]] = defaultdict(list)
    refs: dict[int, RoundRef] = {}
    for rid, cid, label, status, start, end, created in rows:
        assert rid is not None
        period = logic.period_of(start, end, created.date())
        per_cluster[cid].append((rid, period, end or start or created.date(), rid))
        refs[rid] = RoundRef(rid, label, status)
    return {
        cid: {period: refs[rid] for period, rid in logic.latest_round_per_period(items).items()}
        for cid, items in per_cluster.items()
    }


def _values(
    session: Session, round_ids: Iterable[int], measures: Sequence[str] | None = None
) -> dict[int, dict[str, float]]:
    ids = list(round_ids)
    if not ids:
        return {}
    # Core rows, not ORM rows: tens of thousands of plain tuples, no identity map to fill.
    statement = sa_select(col(BenchmarkValue.round_id), col(BenchmarkValue.measure), col(BenchmarkValue.value)).where(
        _among(session, col(BenchmarkValue.round_id), ids)
    )
    if measures is not None:
        statement = statement.where(col(BenchmarkValue.measure).in_(measures))
    out: dict[int, dict[str, float]] = defaultdict(dict)
    for rid, measure, value in session.connection().execute(statement).all():
        out[rid][measure] = value
    return out


def _periods(rounds: dict[int, dict[str, RoundRef]]) -> list[str]:
    return sorted({p for per in rounds.values() for p in per}, reverse=True)


class _PeriodData:
    """One period's roll-up values as the profile needs them: the viewed cluster's own values, which
    clusters have a value for each measure, and peer statistics for chosen groups of clusters."""

    def __init__(self, own: dict[str, float | None], having: dict[str, frozenset[int]]) -> None:
        self.own = own
        self.having = having

    def stats(self, requests: dict[str, frozenset[int]]) -> dict[str, logic.PeerStats | None]:
        raise NotImplementedError


class _PythonPeriodData(_PeriodData):
    """Portable: the values of the period come into Python (one float per cluster and measure)."""

    def __init__(self, session: Session, refs: dict[int, RoundRef | None], keys: Sequence[str], own_id: int) -> None:
        values = _values(session, [r.round_id for r in refs.values() if r], keys)
        self.by_measure: dict[str, dict[int, float]] = defaultdict(dict)
        for cid, ref in refs.items():
            if ref is not None:
                for key, value in values.get(ref.round_id, {}).items():
                    self.by_measure[key][cid] = value
        own = {k: self.by_measure[k].get(own_id) for k in keys}
        super().__init__(own, {k: frozenset(self.by_measure[k]) for k in keys})

    def stats(self, requests: dict[str, frozenset[int]]) -> dict[str, logic.PeerStats | None]:
        return {
            key: logic.peer_stats([self.by_measure[key][cid] for cid in members], self.own[key])
            for key, members in requests.items()
        }


_PG_COUNTS = text(
    "SELECT measure, count(*) FROM benchmark_value WHERE round_id = ANY(:rounds) AND measure = ANY(:measures)"
    " GROUP BY measure"
)
_PG_HAVING = text(
    "SELECT measure, round_id FROM benchmark_value WHERE round_id = ANY(:rounds) AND measure = ANY(:measures)"
)
_PG_OWN = text("SELECT measure, value FROM benchmark_value WHERE round_id = :round AND measure = ANY(:measures)")
# percentile_cont interpolates linearly between closest ranks: the inclusive quartiles of
# scoring.logic.quartiles. The rank counts ties as half, as scoring.logic.percentile_rank does.
_PG_STATS = text(
    """
    SELECT bv.measure, count(*), percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY bv.value),
           sum(CASE WHEN bv.value < o.value THEN 1.0 WHEN bv.value = o.value THEN 0.5 ELSE 0.0 END),
           count(o.value)
    FROM benchmark_value bv
    LEFT JOIN benchmark_value o ON o.round_id = :own AND o.measure = bv.measure
    WHERE bv.round_id = ANY(:rounds) AND bv.measure = ANY(:measures)
    GROUP BY bv.measure
    """
)


class _PostgresPeriodData(_PeriodData):
    """On PostgreSQL the quartiles and ranks are aggregated in the database: a thousand clusters x
    sixty measures stay there, and only which clusters lack a value travels (usually nobody)."""

    def __init__(self, session: Session, refs: dict[int, RoundRef | None], keys: Sequence[str], own_id: int) -> None:
        self.conn = session.connection()
        self.round_of = {cid: ref.round_id for cid, ref in refs.items() if ref is not None}
        cluster_of = {rid: cid for cid, rid in self.round_of.items()}
        rounds, measures = list(self.round_of.values()), list(keys)
        counts: dict[str, int] = dict(self.conn.execute(_PG_COUNTS, {"rounds": rounds, "measures": measures}).all())
        complete = frozenset(self.round_of)
        having = {k: complete if counts.get(k) == len(rounds) else frozenset() for k in keys}
        partial = [k for k in keys if 0 < counts.get(k, 0) < len(rounds)]
        if partial:
            found: dict[str, set[int]] = defaultdict(set)
            for measure, rid in self.conn.execute(_PG_HAVING, {"rounds": rounds, "measures": partial}):
                found[measure].add(cluster_of[rid])
            having.update({k: frozenset(found[k]) for k in partial})
        self.own_round = self.round_of.get(own_id)
        own: dict[str, float | None] = dict.fromkeys(keys)
        if self.own_round is not None:
            own.update(self.conn.execute(_PG_OWN, {"round": self.own_round, "measures": measures}).all())
        super().__init__(own, having)

    def stats(self, requests: dict[str, frozenset[int]]) -> dict[str, logic.PeerStats | None]:
        by_group: dict[frozenset[int], list[str]] = defaultdict(list)
        for key, members in requests.items():
            by_group[members].append(key)
        out: dict[str, logic.PeerStats | None] = {}
        for members, keys in by_group.items():
            parameters = {
                "own": self.own_round if self.own_round is not None else -1,
                "rounds": [self.round_of[cid] for cid in members],
                "measures": keys,
            }
            for measure, n, (q1, q2, q3), below, has_own in self.conn.execute(_PG_STATS, parameters):
                rank = 100.0 * float(below) / n if has_own else None
                out[measure] = logic.PeerStats(n=n, q1=q1, median=q2, q3=q3, percentile_rank=rank)
        return out


def _period_data(session: Session, refs: dict[int, RoundRef | None], keys: Sequence[str], own_id: int) -> _PeriodData:
    if session.get_bind().dialect.name == "postgresql":
        return _PostgresPeriodData(session, refs, keys, own_id)
    return _PythonPeriodData(session, refs, keys, own_id)


# --- measures ---------------------------------------------------------------------------


def _template(session: Session, template_key: str) -> TemplateSpec:
    try:
        version = scorecard_service.latest_version(session, template_key)
    except NotFound:
        raise NotFound("No such scorecard template.") from None
    return scorecard_service.spec_of(version)


def template_keys(session: Session) -> list[str]:
    return sorted({v.key for v in scorecard_service.list_versions(session)})


def default_template(session: Session, principal: Principal) -> str:
    """The template most of the principal's named sharing clusters use (a sensible first view)."""
    named = policy.benchmark_named_programmes(principal)
    statement = (
        select(TemplateVersion.key, func.count(col(Cluster.id)))
        .join(Cluster, col(Cluster.template_version_id) == col(TemplateVersion.id))
        .where(Cluster.shares_benchmarks == True)  # noqa: E712
        .group_by(col(TemplateVersion.key))
        .order_by(func.count(col(Cluster.id)).desc(), col(TemplateVersion.key))
    )
    if named is not None:
        statement = statement.where(col(Cluster.programme_id).in_(named))
    first = session.exec(statement).first()
    if first is not None:
        return first[0]
    keys = template_keys(session)
    return keys[0] if keys else ""


def measures(spec: TemplateSpec, *, lang: str | None = None) -> list[Measure]:
    """Measures in scorecard order. KPIs and CSFs are matched across template versions by key; the
    newest version gives the list and the wording."""
    fallback = spec.languages[0]
    lang = lang or fallback
    out = [Measure(key="overall", kind="overall", title=_l("Overall").localized(lang))]
    for p in spec.perspectives:
        out.append(Measure(key=f"perspective:{p.key}", kind="perspective", title=localize(p.title, lang, fallback)))
    for _p, c in ((p, c) for p in spec.perspectives for c in p.csfs):
        out.append(Measure(key=f"csf:{c.key}", kind="csf", title=localize(c.title, lang, fallback)))
    for _p, _c, k in spec.iter_kpis():
        if k.type == "text":
            continue
        unit = localize(k.unit, lang, fallback)
        if k.per_member:
            unit = (_l("%(unit)s per member firm", unit=unit) if unit else _l("count per member firm")).localized(lang)
        out.append(
            Measure(
                key=f"kpi:{k.key}",
                kind="kpi",
                title=localize(k.title, lang, fallback),
                unit=unit,
                per_member=k.per_member,
            )
        )
    return out


def _stats(stats: logic.PeerStats | None) -> PeerStatsRead | None:
    if stats is None:
        return None
    return PeerStatsRead(
        n=stats.n, q1=stats.q1, median=stats.median, q3=stats.q3, percentile_rank=stats.percentile_rank
    )


# --- agency views -----------------------------------------------------------------------


def _named(members: list[Member], principal: Principal) -> list[Member]:
    named = policy.benchmark_named_programmes(principal)
    return [m for m in members if named is None or m.programme_id in named]


def _filtered(members: list[Member], filters: dict[str, str]) -> list[Member]:
    return [m for m in members if all(not v or (m.peer.attributes.get(d) or "") == v for d, v in filters.items())]


def _options(members: list[Member]) -> dict[str, list[str]]:
    return {d: sorted({m.peer.attributes.get(d) or "" for m in members} - {""}) for d in logic.DIMENSIONS}


def _pick_period(requested: str | None, periods: list[str]) -> str | None:
    if requested and requested in periods:
        return requested
    return periods[0] if periods else None


@dataclass
class _InPeriod:
    periods: list[str]  # every period any of the clusters has a round in, newest first
    chosen: str | None
    refs: dict[int, RoundRef | None]  # cluster id -> its round in the chosen period
    values: dict[int, dict[str, float]]  # round id -> measure -> roll-up value


def _in_period(session: Session, clusters: list[Member], requested: str | None, keys: list[str]) -> _InPeriod:
    """The agency views' common step: the clusters' rounds of the requested (or latest) period, and their values."""
    rounds = _rounds_by_period(session, [m.cluster_id for m in clusters], closed_only=False)
    periods = _periods(rounds)
    chosen = _pick_period(requested, periods)
    refs = {m.cluster_id: rounds.get(m.cluster_id, {}).get(chosen or "") for m in clusters}
    return _InPeriod(periods, chosen, refs, _values(session, [r.round_id for r in refs.values() if r], keys))


def heatmap(
    session: Session,
    principal: Principal,
    *,
    template_key: str,
    period: str | None,
    filters: dict[str, str],
    lang: str | None = None,
) -> Heatmap:
    """Agency staff: the sharing clusters of their programmes by name, overall and CSF scores. `lang`: of
    the titles (the template's first language when None, as the JSON API gives them)."""
    spec = _template(session, template_key)
    members = _named(_population(session, template_key), principal)
    refresh(session, [m.cluster_id for m in members])
    options = _options(members)
    clean = {d: v for d, v in filters.items() if d in logic.DIMENSIONS and v}
    shown = _filtered(members, clean)
    columns = [m for m in measures(spec, lang=lang) if m.kind in ("overall", "csf")]
    keys = [m.key for m in columns]
    found = _in_period(session, shown, period, keys)
    rows = []
    for m in shown:
        ref = found.refs[m.cluster_id]
        if ref is None:
            continue
        got = found.values.get(ref.round_id, {})
        rows.append(
            HeatmapRow(
                cluster_id=m.cluster_id,
                cluster_name=m.name,
                programme_id=m.programme_id,
                round_id=ref.round_id,
                round_label=ref.label,
                round_status=ref.status,
                values={k: got.get(k) for k in keys},
            )
        )
    median = {k: logic.median([v for r in rows if (v := r.values[k]) is not None]) for k in keys}
    return Heatmap(
        template_key=template_key,
        period=found.chosen,
        periods=found.periods,
        filters=clean,
        options=options,
        measures=columns,
        rows=rows,
        median=median,
    )


def distribution(
    session: Session,
    principal: Principal,
    *,
    template_key: str,
    measure: str,
    period: str | None,
    filters: dict[str, str],
    lang: str | None = None,
) -> Distribution:
    """Agency staff: every named cluster's value of one measure, with quartiles."""
    spec = _template(session, template_key)
    all_measures = measures(spec, lang=lang)
    chosen_measure = next((m for m in all_measures if m.key == measure), all_measures[0])
    members = _filtered(_named(_population(session, template_key), principal), filters)
    refresh(session, [m.cluster_id for m in members])
    found = _in_period(session, members, period, [chosen_measure.key])
    points = []
    for m in members:
        ref = found.refs[m.cluster_id]
        value = found.values.get(ref.round_id, {}).get(chosen_measure.key) if ref else None
        if value is not None:
            points.append(DistributionPoint(cluster_id=m.cluster_id, cluster_name=m.name, value=value))
    points.sort(key=lambda p: -p.value)
    return Distribution(
        template_key=template_key,
        period=found.chosen,
        periods=found.periods,
        measure=chosen_measure,
        measures=all_measures,
        points=points,
        stats=_stats(logic.peer_stats([p.value for p in points], None)),
    )


# --- one cluster against its peers ------------------------------------------------------


def _template_key_of(session: Session, cluster: Cluster) -> str:
    return scorecard_service.get_version(session, cluster.template_version_id).key


def profile(
    session: Session,
    principal: Principal,
    cluster: Cluster,
    *,
    dimensions: Iterable[str],
    period: str | None,
    trend_measure: str,
    min_group: int,
    lang: str | None = None,
) -> Profile:
    """A cluster's core scores against its peer group.

    Agency staff of the cluster's programme (and admins) compare it with the named sharing clusters
    of their programmes. Everyone else gets aggregates only, under three rules: the cluster must
    share itself (who does not give, does not get); peers are closed rounds only (an open round's
    aggregate would move with one peer's late answers, and watching it move isolates that peer);
    and a group is shown only when logic.releasable allows it for every group this viewer can ask for.
    """
    assert cluster.id is not None
    template_key = _template_key_of(session, cluster)
    spec = _template(session, template_key)
    all_measures = measures(spec, lang=lang)
    dims = frozenset(d for d in dimensions if d in logic.DIMENSIONS)
    named_mode = policy.sees_benchmark_names(principal, cluster.programme_id)
    population = _population(session, template_key)
    own_member = _member_of(cluster)

    if named_mode:
        peers = [m for m in _named(population, principal) if m.cluster_id != cluster.id]
        exclude = {cluster.id}
    else:
        exclude = policy.benchmark_own_clusters(session, principal) | {cluster.id}
        peers = [m for m in population if m.cluster_id not in exclude] if cluster.shares_benchmarks else []
    everyone = [*peers, own_member]
    refresh(session, [m.cluster_id for m in everyone])
    rounds = _rounds_by_period(session, [m.cluster_id for m in everyone], closed_only=not named_mode)
    periods = sorted(rounds.get(cluster.id, {}), reverse=True)
    chosen = _pick_period(period, periods)

    index = logic.PeerIndex(m.peer for m in peers)
    group = index.group(own_member.peer, dims, exclude)
    # Every group the viewer could ask for, around each of their own sharing clusters on this template;
    # per measure it is narrowed to the clusters that have a value (logic.releasable decides on that).
    owns = [own_member.peer] + [m.peer for m in population if m.cluster_id in exclude and m.cluster_id != cluster.id]
    base_family = {(o.cluster_id, s): index.group(o, s, exclude) for o in owns for s in logic.all_dimension_sets()}
    released_cache: dict[frozenset[int], set[logic.GroupKey]] = {}

    def released(having: frozenset[int]) -> set[logic.GroupKey]:
        if having not in released_cache:
            family = {key: members & having for key, members in base_family.items()}
            released_cache[having] = logic.releasable(family, min_group)
        return released_cache[having]

    def stats_for(period_: str, measure_keys: Sequence[str]) -> tuple[dict[str, float | None], dict[str, Any]]:
        refs = {m.cluster_id: rounds.get(m.cluster_id, {}).get(period_) for m in everyone}
        data = _period_data(session, refs, measure_keys, own_member.cluster_id)
        results: dict[str, Any] = {}
        requests: dict[str, frozenset[int]] = {}
        for key in measure_keys:
            having = data.having[key]
            members = group & having
            if not members:
                results[key] = (None, "No peer has a value for this yet.")
                continue
            if not named_mode:
                if len(members) < min_group:
                    results[key] = (None, f"Fewer than {min_group} peers: not shown, to protect each of them.")
                    continue
                if (cluster.id, dims) not in released(having):
                    results[key] = (
                        None,
                        "Not shown: this group differs by too few clusters from another peer group, "
                        "so comparing the two would expose individual clusters.",
                    )
                    continue
            requests[key] = members
        for key, stats in data.stats(requests).items():
            results[key] = (stats, None)
        return data.own, results

    measure_rows: list[PeerMeasure] = []
    if chosen is not None:
        own_values, results = stats_for(chosen, [m.key for m in all_measures])
        for m in all_measures:
            stats, withheld = results[m.key]
            measure_rows.append(PeerMeasure(measure=m, own=own_values[m.key], peers=_stats(stats), withheld=withheld))
    trend_key = trend_measure if any(m.key == trend_measure for m in all_measures) else "overall"
    trend = []
    for p in sorted(periods):
        own_values, results = stats_for(p, [trend_key])
        stats, _ = results[trend_key]
        trend.append(
            TrendPoint(
                period=p,
                own=own_values[trend_key],
                peer_median=stats.median if stats else None,
                peers=stats.n if stats else None,
            )
        )
    return Profile(
        cluster_id=cluster.id,
        cluster_name=cluster.name,
        template_key=template_key,
        mode="named" if named_mode else "aggregate",
        shares_benchmarks=cluster.shares_benchmarks,
        min_group=min_group,
        period=chosen,
        periods=periods,
        dimensions=sorted(dims, key=logic.DIMENSIONS.index),
        measures=measure_rows,
        trend_measure=trend_key,
        trend=trend,
    )


# --- the observatory --------------------------------------------------------------------


def _custom_kpis(session: Session, principal: Principal, template_key: str) -> list[tuple[ClusterKpi, Cluster]]:
    named = policy.benchmark_named_programmes(principal)
    statement = (
        select(ClusterKpi, Cluster)
        .join(Cluster, col(Cluster.id) == col(ClusterKpi.cluster_id))
        .join(TemplateVersion, col(TemplateVersion.id) == col(Cluster.template_version_id))
        .where(ClusterKpi.is_custom == True, TemplateVersion.key == template_key)  # noqa: E712
        .order_by(col(ClusterKpi.id))
    )
    if named is not None:
        statement = statement.where(col(Cluster.programme_id).in_(named))
    return [(k, c) for k, c in session.exec(statement).all()]


def _observed(row: ClusterKpi, cluster: Cluster) -> ObservedKpi:
    assert row.id is not None and cluster.id is not None
    return ObservedKpi(
        id=row.id,
        cluster_id=cluster.id,
        cluster_name=cluster.name,
        key=row.key,
        title=row.title or row.key,
        question=row.question,
        level=row.level or "cluster",
        kpi_type=row.kpi_type or "number",
        unit=row.unit,
    )


def observatory(session: Session, principal: Principal, *, template_key: str | None) -> Observatory:
    """Indicators clusters defined themselves, by CSF, with alike wordings grouped (logic.group_similar)."""
    keys = template_keys(session)
    key = template_key if template_key in keys else (keys[0] if keys else "")
    if not key:
        return Observatory(template_key="", template_keys=[], csfs=[])
    spec = _template(session, key)
    lang = spec.languages[0]
    rows = _custom_kpis(session, principal, key)
    by_csf: dict[str, list[ObservedKpi]] = defaultdict(list)
    for row, cluster in rows:
        by_csf[row.csf_key].append(_observed(row, cluster))
    csfs = []
    for _p, csf in ((p, c) for p in spec.perspectives for c in p.csfs):
        observed = by_csf.get(csf.key, [])
        if not observed:
            continue
        texts = [o.title for o in observed]
        groups = []
        for indices in logic.group_similar(texts):
            items = [observed[i] for i in indices]
            groups.append(
                SimilarGroup(representative=items[0], clusters=len({i.cluster_id for i in items}), indicators=items)
            )
        groups.sort(key=lambda g: (-g.clusters, g.representative.id))
        csfs.append(
            ObservatoryCsf(
                csf_key=csf.key,
                csf_title=localize(csf.title, lang, lang),
                indicators=len(observed),
                clusters=len({o.cluster_id for o in observed}),
                groups=groups,
            )
        )
    return Observatory(template_key=key, template_keys=keys, csfs=csfs)


def promoted_template(
    session: Session, principal: Principal, *, template_key: str, kpi_ids: Sequence[int]
) -> tuple[TemplateSpec, str]:
    """The next version of the template with the chosen cluster-defined indicators added to their
    CSFs, as YAML that app.scorecards.parsing accepts (checked before it is returned)."""
    if not kpi_ids:
        raise InvalidInput(
            "Choose at least one indicator to promote.", details=[{"field": "kpi", "message": "required"}]
        )
    spec = _template(session, template_key)
    available = {row.id: (row, cluster) for row, cluster in _custom_kpis(session, principal, template_key)}
    unknown = [i for i in kpi_ids if i not in available]
    if unknown:
        raise NotFound("No such cluster-defined indicator on this template.")
    data = spec.model_dump(mode="python", exclude_none=True)
    lang = spec.languages[0]
    taken = {kpi.key for _, _, kpi in spec.iter_kpis()}
    csf_dicts = {c["key"]: c for p in data["perspectives"] for c in p["csfs"]}
    for kpi_id in dict.fromkeys(kpi_ids):
        row, _cluster = available[kpi_id]
        text_lang = row.language if row.language in spec.languages else lang
        title = row.title or row.key
        kpi: dict[str, Any] = {
            "key": logic.slug(title, taken),
            "title": {text_lang: title},
            "level": row.level or "cluster",
            "type": row.kpi_type or "number",
            "direction": row.direction or "increase",
        }
        taken.add(kpi["key"])
        if row.question:
            kpi["question"] = {text_lang: row.question}
        if row.unit:
            kpi["unit"] = row.unit
        if kpi["level"] == "member" and row.aggregate:
            kpi["aggregate"] = row.aggregate
        if row.per_member:
            kpi["per_member"] = True
        csf_dicts[row.csf_key].setdefault("kpis", []).append(kpi)
    data["version"] = logic.next_version(spec.version)
    header = (
        f"# {template_key} version {data['version']}: version {spec.version} plus indicators that clusters\n"
        "# defined themselves, promoted from the ClusterScore observatory. Review before use.\n"
    )
    text = header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    try:
        promoted = parse_template(text, source_name=f"{template_key}-{data['version']}.yaml")
    except TemplateInvalid as exc:
        raise InvalidInput(
            "The promoted template would not be valid.",
            details=[{"field": p.path, "message": p.message} for p in exc.problems],
        ) from None
    return promoted, text


def write_promoted(session: Session, *, spec: TemplateSpec, text: str, directory: Any) -> str:
    """Write the promoted version into the scorecards directory and load it; returns the file name."""
    name = f"{spec.key}-v{spec.version}.yaml"
    path = directory / name
    if path.exists():
        raise InvalidInput(f"{name} already exists in the scorecards directory.")
    path.write_text(text, encoding="utf-8")
    scorecard_service.load_spec(session, spec, source_file=name)
    return name


# --- exports ----------------------------------------------------------------------------


def table_of_heatmap(data: Heatmap, *, lang: str | None = None) -> tuple[list[str], list[list[Any]]]:
    """Column names stay as they are in every language (scripts read them); the measures' titles and the
    median row speak the viewer's language."""
    header = ["cluster", "round", *[m.title for m in data.measures]]
    rows: list[list[Any]] = [
        [r.cluster_name, r.round_label, *[r.values[m.key] for m in data.measures]] for r in data.rows
    ]
    median = _nl("median of %(num)s cluster", "median of %(num)s clusters", len(data.rows)).localized(lang)
    rows.append([median, "", *[data.median[m.key] for m in data.measures]])
    return header, rows


def table_of_profile(data: Profile) -> tuple[list[str], list[list[Any]]]:
    header = [
        "measure",
        "kind",
        "this cluster",
        "peers",
        "lower quartile",
        "median",
        "upper quartile",
        "percentile rank",
        "note",
    ]
    rows: list[list[Any]] = []
    for m in data.measures:
        p = m.peers
        rows.append(
            [
                m.measure.title,
                m.measure.kind,
                m.own,
                p.n if p else None,
                p.q1 if p else None,
                p.median if p else None,
                p.q3 if p else None,
                p.percentile_rank if p else None,
                m.withheld or "",
            ]
        )
    return header, rows


def table_of_distribution(data: Distribution) -> tuple[list[str], list[list[Any]]]:
    return ["cluster", data.measure.title], [[p.cluster_name, p.value] for p in data.points]


def _cell(value: Any) -> Any:
    """Numbers rounded for reading; text that a spreadsheet would run as a formula (a cluster named
    "=HYPERLINK(...)") is prefixed with an apostrophe so it stays text."""
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_cell(h) for h in header])
    for row in rows:
        writer.writerow(["" if v is None else _cell(v) for v in row])
    return buffer.getvalue().encode("utf-8-sig")  # the BOM makes spreadsheet programs read UTF-8 names right


def xlsx_bytes(title: str, header: list[str], rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.append([_cell(h) for h in header])
    for row in rows:
        sheet.append([_cell(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
