"""Benchmarks across cluster initiatives, read from per-round roll-ups of core scores.

Roll-ups (app/benchmarks/models.py) hold, per round, the core scores the scoring engine computes
(`scoring.service.round_scores(core_only=True)`: template KPIs and CSF ratings, never the cluster's
own KPIs) and the raw values of template KPIs, `per_member` counts divided by the cluster's member
firms. A closed round's roll-up is frozen when it closes (`freeze_round`, with the cluster's benchmark
attributes: its entry of the period). The others are recomputed, one round at a time, when the cluster's data
revision moves (`Cluster.data_revision`, raised by every audited change of the cluster and by a participant
added: app/audit/service.py `data_changed`), by app/benchmarks/refresher.py in the background: reading a benchmark
writes no roll-up, and says how current its figures are (`freshness`, one statement comparing revisions). No
other domain has to call in here when its data changes.

Reading: the heat map reads one page of clusters, one value per cluster and column, and its summary row over
every cluster (computed by PostgreSQL, in Python on SQLite); a peer comparison on PostgreSQL has the
database rank the roll-ups, and only which clusters lack a value and the values the quartiles rest on
come into Python for the disclosure control (docs/disclosure.md). On SQLite the same numbers are
computed in Python from the period's roll-up values (logic.released_quartiles on both paths).
"""

import hashlib
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

import yaml
from sqlalchemy import ARRAY, Float, Integer, Text, any_, bindparam, case, delete, extract, func, insert, null, text
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, and_, col, or_, select

from app.auth import policy
from app.auth.principal import Principal
from app.benchmarks import history, logic
from app.benchmarks.models import BenchmarkEntry, BenchmarkMeasureSet, BenchmarkSource, BenchmarkValue
from app.benchmarks.schemas import (
    ChangeRanking,
    ChangeRead,
    ChangeRow,
    Distribution,
    DistributionPoint,
    Freshness,
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
    Trend,
    TrendPoint,
)
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, ClusterKpi, Programme
from app.errors import InvalidInput, NotFound
from app.i18n.translation import _l, _nl
from app.rounds.models import KpiValue, Round
from app.scorecards import service as scorecard_service
from app.scorecards.models import TemplateVersion
from app.scorecards.parsing import TemplateInvalid, parse_template
from app.scorecards.schema import TemplateSpec, localize
from app.scoring import service as scoring_service
from app.scoring.schemas import RoundScoresRead
from app.timeutil import utcnow

T = TypeVar("T")


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _among(dialect: str, column: Any) -> Any:
    """`column IN :ids`, the ids given on execution as `_ids(dialect, ids)`. For thousands of ids, on PostgreSQL
    one text parameter made an array there (an IN list of a thousand placeholders costs more to build and parse
    than the query takes to run, and psycopg builds a list parameter in Python, ten times slower than joining the
    numbers); an expanding IN elsewhere. Statements that filter by ids thus need not be rebuilt for other ids."""
    if dialect == "postgresql":
        return column == any_(func.string_to_array(bindparam("ids", type_=Text), ",").cast(ARRAY(Integer)))
    return column.in_(bindparam("ids", expanding=True))


def _ids(dialect: str, ids: Iterable[int]) -> str | list[int]:
    return _joined(ids) if dialect == "postgresql" else list(ids)


# --- roll-ups ---------------------------------------------------------------------------


def per_member_denominators(spec: TemplateSpec, *, firms: int, participants: int) -> dict[str, int]:
    """What each per_member KPI is divided by: the participants its question is asked of (member firms for
    `asked_of: firms`, every participant for `all`), and member firms for a cluster-level count."""
    return {
        kpi.key: participants if kpi.level == "member" and kpi.asked_of in (None, "all") else firms
        for _, _, kpi in spec.iter_kpis()
        if kpi.per_member
    }


def measures_of(scores: RoundScoresRead, per_member: dict[str, int]) -> dict[str, float]:
    """The benchmark measures of one round's core scores (per_member KPIs divided by their denominator);
    measures without a value are left out."""
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
            if per_member[k.key] == 0:
                continue
            out[f"kpi:{k.key}"] = k.value / per_member[k.key]
        else:
            out[f"kpi:{k.key}"] = k.value
    return out


def _round_rows(session: Session, cluster: Cluster, round_: Round) -> list[dict[str, Any]]:
    """A round's benchmark values (scored by the scoring engine, core only), as rows to insert."""
    per_member = per_member_denominators(
        cluster_service.template_spec(session, cluster),
        firms=cluster_service.member_firm_count(session, cluster),
        participants=cluster_service.count_active_participants(session, cluster),
    )
    scores = scoring_service.round_scores(session, round_, core_only=True)
    return [
        {"round_id": round_.id, "cluster_id": cluster.id, "measure": measure, "value": value}
        for measure, value in measures_of(scores, per_member).items()
    ]


def _frozen_round_ids(session: Session, cluster_id: int) -> set[int]:
    statement = sa_select(col(BenchmarkEntry.round_id)).where(
        col(BenchmarkEntry.cluster_id) == cluster_id, col(BenchmarkEntry.reopened_at).is_(None)
    )
    return set(session.connection().execute(statement).scalars())


def refresh_cluster(session: Session, cluster: Cluster, revision: int) -> None:
    """Recompute the roll-up of a cluster's rounds that are not frozen, round by round (only one round's answers
    in memory at a time). A closed round without its entry (closed before entries existed) is frozen now."""
    assert cluster.id is not None
    frozen = _frozen_round_ids(session, cluster.id)
    rounds = session.exec(select(Round).where(Round.cluster_id == cluster.id, Round.status != "draft")).all()
    live = [r for r in rounds if r.id not in frozen and r.status != "closed"]
    session.execute(
        delete(BenchmarkValue).where(
            col(BenchmarkValue.cluster_id) == cluster.id, col(BenchmarkValue.round_id).not_in(frozen)
        )
    )
    rows = [row for round_ in live for row in _round_rows(session, cluster, round_)]
    if rows:
        # One multi-row INSERT rather than an ORM object per value, which would also flush before every query.
        session.execute(insert(BenchmarkValue), rows)
    for round_ in rounds:
        if round_.status == "closed" and round_.id not in frozen:
            freeze_round(session, round_, cluster)
    source = session.get(BenchmarkSource, cluster.id)
    if source is None:
        source = BenchmarkSource(cluster_id=cluster.id, revision=revision)
    source.revision, source.refreshed_at = revision, utcnow()
    session.add(source)
    session.flush()


def freeze_round(session: Session, round_: Round, cluster: Cluster) -> BenchmarkEntry:
    """When a round closes: its values and the cluster's benchmark attributes become the period's entry, which
    nothing changes until the round is reopened (docs/disclosure.md, rule 2). Closing again is a new revision."""
    assert round_.id is not None and cluster.id is not None
    session.execute(delete(BenchmarkValue).where(col(BenchmarkValue.round_id) == round_.id))
    rows = _round_rows(session, cluster, round_)
    if rows:
        session.execute(insert(BenchmarkValue), rows)
    created = round_.created_at.date()
    entry = session.get(BenchmarkEntry, round_.id) or BenchmarkEntry(
        round_id=round_.id,
        cluster_id=cluster.id,
        period="",
        period_end=created,
        programme_id=0,
        revision=0,
        measure_set="",
    )
    entry.period = logic.period_of(round_.period_start, round_.period_end, created)
    entry.period_end = round_.period_end or round_.period_start or created
    entry.programme_id, entry.sector, entry.country = cluster.programme_id, cluster.sector, cluster.country
    entry.region, entry.typology, entry.stage = cluster.region, cluster.typology, cluster.stage
    entry.measure_set = _measure_set(session, [row["measure"] for row in rows])
    entry.revision += 1
    entry.frozen_at, entry.reopened_at = utcnow(), None
    session.add(entry)
    session.flush()
    return entry


def _measure_set(session: Session, measures: Iterable[str]) -> str:
    """The fingerprint of the set of these measures, recorded if it is new (another request may record it too)."""
    listed = " ".join(sorted(measures))
    fingerprint = hashlib.sha256(listed.encode()).hexdigest()
    new = history.insert_new(session, BenchmarkMeasureSet, ["fingerprint"])
    session.connection().execute(new, [{"fingerprint": fingerprint, "measures": listed}])
    return fingerprint


def thaw_round(session: Session, round_: Round) -> None:
    """When a closed round is reopened: it leaves every peer group until it closes again."""
    entry = session.get(BenchmarkEntry, round_.id)
    if entry is not None and entry.reopened_at is None:
        entry.reopened_at = utcnow()
        session.add(entry)
        session.flush()


def _is_behind() -> Any:
    """A cluster's roll-up is behind when it was never computed or computed from an older data revision."""
    return or_(col(BenchmarkSource.revision).is_(None), col(BenchmarkSource.revision) != col(Cluster.data_revision))


def _behind(session: Session, cluster_ids: Sequence[int] | None) -> dict[int, int]:
    """The clusters among these (every cluster when None) whose roll-up is behind, with their current revision."""
    statement = (
        sa_select(col(Cluster.id), col(Cluster.data_revision))
        .outerjoin(BenchmarkSource, col(BenchmarkSource.cluster_id) == col(Cluster.id))
        .where(_is_behind())
    )
    params = {}
    if cluster_ids is not None:
        dialect = _dialect(session)
        statement = statement.where(_among(dialect, col(Cluster.id)))
        params = {"ids": _ids(dialect, cluster_ids)}
    return {cid or 0: revision for cid, revision in session.connection().execute(statement, params).all()}


def refresh(session: Session, cluster_ids: Sequence[int]) -> int:
    """Bring the roll-ups of these clusters up to date; returns how many were recomputed."""
    if not cluster_ids:
        return 0
    behind = _behind(session, cluster_ids)
    for cid, revision in behind.items():
        # A savepoint per cluster: two processes refreshing the same cluster at once must not fail
        # each other; the loser's work is simply the winner's.
        try:
            with session.begin_nested():
                refresh_cluster(session, cluster_service.get_cluster(session, cid), revision)
        except IntegrityError:
            continue
    return len(behind)


def all_cluster_ids(session: Session) -> list[int]:
    return [cid for cid in session.exec(select(Cluster.id)) if cid is not None]


def stale_clusters(session: Session) -> list[int]:
    """Every cluster whose roll-up is older than its data."""
    return list(_behind(session, None))


def freshness(session: Session, cluster_ids: Sequence[int]) -> Freshness:
    """How current the figures of these clusters are: when their roll-ups were last computed, and how many are
    behind their data (one statement, one row)."""
    if not cluster_ids:
        return Freshness(updated_at=None, pending=0)
    dialect = _dialect(session)
    statement = (
        sa_select(func.max(col(BenchmarkSource.refreshed_at)), func.count().filter(_is_behind()))
        .select_from(Cluster)
        .outerjoin(BenchmarkSource, col(BenchmarkSource.cluster_id) == col(Cluster.id))
        .where(_among(dialect, col(Cluster.id)))
    )
    updated_at, pending = session.connection().execute(statement, {"ids": _ids(dialect, cluster_ids)}).one()
    return Freshness(updated_at=updated_at, pending=pending)


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
    return [_member(*row) for row in session.connection().execute(statement).all()]


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


def _round_period() -> tuple[Any, Any, Any]:
    """A round's day and its period's year and half (logic.period_of, in SQL on both databases)."""
    day = func.coalesce(col(Round.period_end), col(Round.period_start), func.date(col(Round.created_at)))
    return day, extract("year", day), case((extract("month", day) <= 6, 1), else_=2)


@lru_cache(maxsize=16)
def _ranked_rounds(dialect: str, statuses: tuple[str, ...]) -> Any:
    """The rounds of the clusters `ids` (_among) with their period's year and half and their rank in the cluster's
    period: 1 for the round that counts, the one that ends last, then the one created last."""
    day, year, half = _round_period()
    rank = func.row_number().over(
        partition_by=(col(Round.cluster_id), year, half), order_by=(day.desc(), col(Round.id).desc())
    )
    return (
        sa_select(
            col(Round.id).label("round_id"),
            col(Round.cluster_id).label("cluster_id"),
            col(Round.label).label("label"),
            col(Round.status).label("status"),
            year.label("year"),
            half.label("half"),
            rank.label("rank"),
        )
        .where(_among(dialect, col(Round.cluster_id)), col(Round.status).in_(statuses))
        .subquery()
    )


def _rounds_by_period(
    session: Session, cluster_ids: Sequence[int], *, closed_only: bool
) -> dict[int, dict[str, RoundRef]]:
    """Each cluster's round per benchmark period (logic.period_of; the latest round of a period counts). The
    database picks the rounds: one row per cluster and period comes back."""
    if not cluster_ids:
        return {}
    dialect = _dialect(session)
    statement = _rounds_statement(dialect, _statuses(closed_only))
    out: dict[int, dict[str, RoundRef]] = defaultdict(dict)
    for rid, cid, label, status, year, half in session.connection().execute(
        statement, {"ids": _ids(dialect, cluster_ids)}
    ):
        out[cid][f"{int(year)}-H{half}"] = RoundRef(rid, label, status)
    return out


def _all_periods(session: Session, cluster_ids: Sequence[int], *, closed_only: bool) -> list[str]:
    """Every period any of the clusters has a round in, newest first."""
    if not cluster_ids:
        return []
    dialect = _dialect(session)
    statement = _periods_statement(dialect, _statuses(closed_only))
    rows = session.connection().execute(statement, {"ids": _ids(dialect, cluster_ids)})
    return sorted({f"{int(year)}-H{half}" for year, half in rows}, reverse=True)


@lru_cache(maxsize=16)
def _rounds_statement(dialect: str, statuses: tuple[str, ...]) -> Any:
    ranked = _ranked_rounds(dialect, statuses)
    return sa_select(
        ranked.c.round_id, ranked.c.cluster_id, ranked.c.label, ranked.c.status, ranked.c.year, ranked.c.half
    ).where(ranked.c.rank == 1)


@lru_cache(maxsize=16)
def _periods_statement(dialect: str, statuses: tuple[str, ...]) -> Any:
    _day, year, half = _round_period()
    rounds = (_among(dialect, col(Round.cluster_id)), col(Round.status).in_(statuses))
    return sa_select(year.label("year"), half.label("half")).where(*rounds).distinct()


def _statuses(closed_only: bool) -> tuple[str, ...]:
    return ("closed",) if closed_only else ("open", "closed")


@dataclass(frozen=True)
class Frozen:
    """A cluster's frozen entry in a period: the round that counts, the attributes it was frozen with and the
    measures it has a value for."""

    round_id: int
    revision: int
    peer: logic.Peer
    measures: frozenset[str]

    @property
    def contribution(self) -> logic.Contribution:
        return (self.round_id, self.revision)


def _entries_by_period(session: Session, cluster_ids: Sequence[int]) -> dict[int, dict[str, Frozen]]:
    """Each cluster's frozen entry per period (the latest round of a period counts, as for open rounds)."""
    if not cluster_ids:
        return {}
    dialect = _dialect(session)
    e = BenchmarkEntry
    # Core rows, not ORM objects: thousands of entries per view, no identity map to fill.
    statement = (
        sa_select(
            col(e.cluster_id),
            col(e.period),
            col(e.period_end),
            col(e.round_id),
            col(e.revision),
            col(e.programme_id),
            col(e.sector),
            col(e.country),
            col(e.region),
            col(e.typology),
            col(e.stage),
            col(BenchmarkMeasureSet.measures),
        )
        .join(BenchmarkMeasureSet, col(BenchmarkMeasureSet.fingerprint) == col(e.measure_set))
        .where(_among(dialect, col(e.cluster_id)), col(e.reopened_at).is_(None))
    )
    chosen: dict[tuple[int, str], Any] = {}
    for row in session.connection().execute(statement, {"ids": _ids(dialect, cluster_ids)}).all():
        key = (row[0], row[1])
        if key not in chosen or (row[2], row[3]) > (chosen[key][2], chosen[key][3]):
            chosen[key] = row
    out: dict[int, dict[str, Frozen]] = defaultdict(dict)
    for (cluster_id, period), (_c, _p, _end, round_id, revision, programme_id, *where, present) in chosen.items():
        attributes = dict(zip(logic.DIMENSIONS, [str(programme_id), *where], strict=True))
        peer = logic.Peer(cluster_id, attributes)
        out[cluster_id][period] = Frozen(round_id, revision, peer, frozenset(present.split()))
    return out


def _values(
    session: Session, round_ids: Iterable[int], measures: Sequence[str] | None = None
) -> dict[int, dict[str, float]]:
    ids = list(round_ids)
    if not ids:
        return {}
    # Core rows, not ORM rows: tens of thousands of plain tuples, no identity map to fill.
    dialect = _dialect(session)
    statement = sa_select(col(BenchmarkValue.round_id), col(BenchmarkValue.measure), col(BenchmarkValue.value)).where(
        _among(dialect, col(BenchmarkValue.round_id))
    )
    if measures is not None:
        statement = statement.where(col(BenchmarkValue.measure).in_(measures))
    out: dict[int, dict[str, float]] = defaultdict(dict)
    for rid, measure, value in session.connection().execute(statement, {"ids": _ids(dialect, ids)}).all():
        out[rid][measure] = value
    return out


def _periods(rounds: dict[int, dict[str, RoundRef]]) -> list[str]:
    return sorted({p for per in rounds.values() for p in per}, reverse=True)


@dataclass(frozen=True)
class Slice:
    """What a comparison reads in a period: its values, or with `since` their change since that earlier period
    (only clusters with a value in both periods have a change)."""

    period: str
    since: str | None = None


Ask = tuple[Slice, str]  # one measure in one slice
Pick = Mapping[int, tuple[int, int | None]]  # cluster id -> its round in the period, and in `since` (or None)


class _SliceData:
    """The roll-up values a comparison reads, for each measure of each slice asked: the viewed cluster's own
    value, which clusters have a value, and the statistics of the slice's group (`groups`) among those with a
    value. Computed for every ask at once; the caller shows only the statistics the disclosure rules release."""

    own: dict[Ask, float | None]
    having: dict[Ask, frozenset[int]]
    stats: dict[Ask, logic.PeerStats | None]


class _PythonSliceData(_SliceData):
    """Portable (SQLite): the values come into Python, one float per cluster and measure, and logic.peer_stats
    computes the same figures PostgreSQL does."""

    def __init__(
        self,
        session: Session,
        picks: Mapping[Slice, Pick],
        asks: Sequence[Ask],
        own_id: int,
        groups: Mapping[Slice, frozenset[int]],
        *,
        exact: bool,
    ):
        rounds = {r for pick in picks.values() for pair in pick.values() for r in pair if r is not None}
        values = _values(session, rounds, sorted({key for _, key in asks}))
        by_ask: dict[Ask, dict[int, float]] = {}
        for ask in asks:
            got: dict[int, float] = {}
            for cid, (rid, base) in picks[ask[0]].items():
                value = values.get(rid, {}).get(ask[1])
                if base is not None:
                    value = logic.change(value, values.get(base, {}).get(ask[1]))
                if value is not None:
                    got[cid] = value
            by_ask[ask] = got
        self.own = {ask: got.get(own_id) for ask, got in by_ask.items()}
        self.having = {ask: frozenset(got) for ask, got in by_ask.items()}
        self.stats = {
            ask: logic.peer_stats([v for cid, v in got.items() if cid in groups[ask[0]]], self.own[ask], exact=exact)
            for ask, got in by_ask.items()
        }


# The clusters' rounds per slice, with whether each is in the slice's group (`pick`), and the measures asked per
# slice (`ask`) arrive as arrays; `val` reads each round's values of the measures asked of its slice (one index
# probe per round, not per round and measure), or their changes when the slice has an earlier round (`base_id`).
# The long arrays travel as comma-separated text: psycopg builds a list parameter in Python, ten times slower for
# 40,000 numbers.
_PG_VALUES = """
WITH pick AS (
    SELECT * FROM unnest(string_to_array(:p_slice, ',')::int[], string_to_array(:p_cluster, ',')::int[],
                         string_to_array(:p_round, ',')::int[], string_to_array(:p_base, ',', '')::int[],
                         string_to_array(:p_group, ',')::bool[])
        AS t(slice, cluster_id, round_id, base_id, in_group)
), asked AS (
    SELECT slice, array_agg(measure) AS measures
    FROM unnest(CAST(:a_slice AS int[]), CAST(:a_measure AS text[])) AS t(slice, measure) GROUP BY slice
), val AS (
    SELECT p.slice, p.cluster_id, p.in_group, v.measure,
           CASE WHEN p.base_id IS NULL THEN v.value ELSE v.value - b.value END AS value
    FROM pick p JOIN asked s ON s.slice = p.slice
    JOIN benchmark_value v ON v.round_id = p.round_id AND v.measure = ANY(s.measures)
    LEFT JOIN benchmark_value b ON b.round_id = p.base_id AND b.measure = v.measure
    WHERE p.base_id IS NULL OR b.value IS NOT NULL
)
"""
# Per measure asked: how many clusters have a value, the own value, and the group's size, inclusive quartiles
# and whether each equals a peer's value (logic.released_quartiles): a row per measure leaves the database.
_PG_SLICE = text(
    _PG_VALUES
    + """, stats AS (
    SELECT slice, measure, count(*) AS present, max(value) FILTER (WHERE cluster_id = :own) AS own,
           count(*) FILTER (WHERE in_group) AS n,
           percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY value) FILTER (WHERE in_group) AS q,
           array_agg(value) FILTER (WHERE in_group) AS peers
    FROM val GROUP BY slice, measure
)
SELECT slice, measure, present, own, n, q, q[1] = ANY(peers), q[2] = ANY(peers), q[3] = ANY(peers) FROM stats
"""
)
# The clusters with a value, for the measures that some of the slice's clusters lack.
_PG_PRESENT = text(_PG_VALUES + "SELECT slice, measure, cluster_id FROM val")


def _joined(numbers: Iterable[int | str]) -> str:
    return ",".join(map(str, numbers))


class _PostgresSliceData(_SliceData):
    """On PostgreSQL the values stay in the database: one statement counts who has a value and computes each
    group's quartiles with percentile_cont; Python only decides what may be shown."""

    def __init__(
        self,
        session: Session,
        picks: Mapping[Slice, Pick],
        asks: Sequence[Ask],
        own_id: int,
        groups: Mapping[Slice, frozenset[int]],
        *,
        exact: bool,
    ):
        self.own, self.having, self.stats = dict.fromkeys(asks), {ask: frozenset() for ask in asks}, dict.fromkeys(asks)
        if not asks:
            return
        slices = list(picks)
        slice_ids = {sl: i for i, sl in enumerate(slices)}
        rows = [(slice_ids[sl], cid, rid, base) for sl, pick in picks.items() for cid, (rid, base) in pick.items()]
        parameters = {
            "p_slice": _joined(r[0] for r in rows),
            "p_cluster": _joined(r[1] for r in rows),
            "p_round": _joined(r[2] for r in rows),
            "p_base": _joined("" if r[3] is None else r[3] for r in rows),
            "p_group": _joined("t" if r[1] in groups[slices[r[0]]] else "f" for r in rows),
            "own": own_id,
        }
        by_id = {(slice_ids[sl], key): (sl, key) for sl, key in asks}

        def run(statement: Any, asked: Sequence[Ask]) -> Any:
            measures = {"a_slice": [slice_ids[sl] for sl, _ in asked], "a_measure": [key for _, key in asked]}
            return session.connection().execute(statement, {**parameters, **measures}).all()

        partial = []
        for slice_id, measure, present, own, n, q, *pinned in run(_PG_SLICE, asks):
            ask = by_id[(slice_id, measure)]
            self.own[ask] = own
            self.stats[ask] = logic.stats_of(n, q, pinned, own, exact=exact) if n else None
            if present == len(picks[ask[0]]):
                self.having[ask] = frozenset(picks[ask[0]])
            else:
                partial.append(ask)
        if partial:
            found: dict[Ask, set[int]] = defaultdict(set)
            for slice_id, measure, cid in run(_PG_PRESENT, partial):
                found[by_id[(slice_id, measure)]].add(cid)
            self.having.update({ask: frozenset(found[ask]) for ask in partial})


def _slice_data(
    session: Session,
    picks: Mapping[Slice, Pick],
    asks: Sequence[Ask],
    own_id: int,
    groups: Mapping[Slice, frozenset[int]],
    *,
    exact: bool,
) -> _SliceData:
    if _dialect(session) == "postgresql":
        return _PostgresSliceData(session, picks, asks, own_id, groups, exact=exact)
    return _PythonSliceData(session, picks, asks, own_id, groups, exact=exact)


# --- measures ---------------------------------------------------------------------------


def _template(session: Session, template_key: str) -> TemplateSpec:
    try:
        return scorecard_service.latest_spec(session, template_key)
    except NotFound:
        raise NotFound("No such scorecard template.") from None


def template_titles(session: Session) -> dict[str, str]:
    """Each loaded template's key with the title of its latest version, by key."""
    rows = session.execute(
        sa_select(col(TemplateVersion.key), col(TemplateVersion.title)).order_by(col(TemplateVersion.id))
    )
    return dict(sorted({key: title for key, title in rows}.items()))


def template_keys(session: Session) -> list[str]:
    return list(template_titles(session))


def programme_names(session: Session, programme_ids: Iterable[str]) -> dict[str, str]:
    """The programmes' names for the filter, keyed as the filter's values (ids as text)."""
    ids = [int(i) for i in programme_ids if i.isdigit()]
    if not ids:  # the distribution has no programme filter: no statement to read nothing
        return {}
    rows = session.execute(sa_select(col(Programme.id), col(Programme.name)).where(col(Programme.id).in_(ids)))
    return {str(programme_id): name for programme_id, name in rows}


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
        unit = localize(k.unit, lang, fallback) or ("%" if k.type == "percent" or k.aggregate == "share_yes" else None)
        if k.per_member and (k.level == "cluster" or k.asked_of == "firms"):
            unit = (_l("%(unit)s per member firm", unit=unit) if unit else _l("count per member firm")).localized(lang)
        elif k.per_member:
            unit = (_l("%(unit)s per participant", unit=unit) if unit else _l("count per participant")).localized(lang)
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
    return PeerStatsRead(n=stats.n, q1=stats.q1, median=stats.median, q3=stats.q3, band=stats.band)


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


@dataclass(frozen=True)
class _Cell:
    """A cluster's round in the chosen period (with its frozen revision, if closed) and, per measure, its value
    and its change since the earlier period (None when either period has no value)."""

    round: RoundRef
    revision: int | None
    values: dict[str, tuple[float, float | None]]


def _pair(dialect: str) -> Any:
    """Each cluster's round of the period (round_id, label, status) and of the period before (base_id) on one row;
    round_id is null for a cluster with a round only in the period before. Parameters: _pair_params."""
    ranked = _ranked_rounds(dialect, _statuses(closed_only=False))

    def in_(year: str, half: str) -> Any:
        return and_(ranked.c.year == bindparam(year), ranked.c.half == bindparam(half))

    # Both rounds of a cluster on one row, in one pass (a join of the ranked rounds with themselves is estimated
    # badly enough for PostgreSQL to compare every pair).
    return (
        sa_select(
            ranked.c.cluster_id,
            func.max(ranked.c.round_id).filter(in_("year", "half")).label("round_id"),
            func.max(ranked.c.label).filter(in_("year", "half")).label("label"),
            func.max(ranked.c.status).filter(in_("year", "half")).label("status"),
            func.max(ranked.c.round_id).filter(in_("since_year", "since_half")).label("base_id"),
        )
        .where(ranked.c.rank == 1)
        .group_by(ranked.c.cluster_id)
        .cte("pair")
    )


def _pair_params(dialect: str, cluster_ids: Sequence[int], period: str, since: str | None) -> dict[str, Any]:
    """The clusters and the two periods of _pair (no period before: null, which no round is in)."""
    return {
        "ids": _ids(dialect, cluster_ids),
        "year": int(period[:4]),
        "half": int(period[-1]),
        "since_year": int(since[:4]) if since else None,
        "since_half": int(since[-1]) if since else None,
    }


@dataclass(frozen=True)
class _Pivot:
    """What the agency views read: the pair (_pair), joined to the values of `keys` of both its rounds, and per
    key its columns (value, value in the period before)."""

    pair: Any
    joined: Any
    figures: list[tuple[Any, Any]]


# The agency views' statements are built once per database and set of measures (lru_cache) and run with the
# clusters and periods as parameters: building them in SQLAlchemy took longer than PostgreSQL took to run them.
@lru_cache(maxsize=64)
def _pivoted(dialect: str, keys: tuple[str, ...]) -> _Pivot:
    pair = _pair(dialect)
    values_table: Any = BenchmarkValue.__table__  # type: ignore[attr-defined]

    def pivot(round_id: Any, name: str) -> Any:
        """The values of `keys` of these rounds, a row per round (one index probe each) and a column per measure."""
        v = values_table.alias(name)
        figures = (func.max(v.c.value).filter(v.c.measure == key).label(f"{name}{i}") for i, key in enumerate(keys))
        rounds = v.c.round_id.in_(sa_select(round_id))
        return sa_select(v.c.round_id, *figures).where(rounds, v.c.measure.in_(keys)).group_by(v.c.round_id).subquery()

    value, earlier = pivot(pair.c.round_id, "value"), pivot(pair.c.base_id, "earlier")
    joined = pair.outerjoin(value, value.c.round_id == pair.c.round_id).outerjoin(
        earlier, earlier.c.round_id == pair.c.base_id
    )
    return _Pivot(pair, joined, list(zip(list(value.c)[1:], list(earlier.c)[1:], strict=True)))


@lru_cache(maxsize=64)
def _cells_statement(dialect: str, keys: tuple[str, ...]) -> Any:
    p = _pivoted(dialect, keys)
    entry: Any = BenchmarkEntry.__table__  # type: ignore[attr-defined]
    heading = (p.pair.c.cluster_id, p.pair.c.round_id, p.pair.c.label, p.pair.c.status, entry.c.revision)
    return (
        sa_select(*heading, *(now for now, _ in p.figures), *(before for _, before in p.figures))
        .select_from(
            p.joined.outerjoin(entry, and_(entry.c.round_id == p.pair.c.round_id, entry.c.reopened_at.is_(None)))
        )
        .where(p.pair.c.round_id.is_not(None))
    )


def _cells(
    session: Session, cluster_ids: Sequence[int], period: str, since: str | None, keys: Sequence[str]
) -> dict[int, _Cell]:
    """One statement: each cluster's round of `period` and of `since`, the values of `keys` and their changes."""
    if not cluster_ids:
        return {}
    dialect = _dialect(session)
    statement = _cells_statement(dialect, tuple(keys))
    out: dict[int, _Cell] = {}
    for cid, round_id, label, status, revision, *got in session.connection().execute(
        statement, _pair_params(dialect, cluster_ids, period, since)
    ):
        pairs = zip(keys, got[: len(keys)], got[len(keys) :], strict=True)
        values = {key: (now, logic.change(now, before)) for key, now, before in pairs if now is not None}
        out[cid] = _Cell(RoundRef(round_id, label, status), revision, values)
    return out


@lru_cache(maxsize=256)
def _values_statement(dialect: str, key: str) -> Any:
    p = _pivoted(dialect, (key,))
    [(now, before)] = p.figures
    return sa_select(p.pair.c.cluster_id, now, before).select_from(p.joined).where(now.is_not(None))


def _values_of(
    session: Session, cluster_ids: Sequence[int], period: str, since: str | None, key: str
) -> dict[int, tuple[float, float | None]]:
    """One measure's value in `period` and its change since `since`, of each cluster with a value: what the
    distribution draws, without the rounds' labels and revisions that `_cells` reads for the heat map's rows."""
    if not cluster_ids:
        return {}
    dialect = _dialect(session)
    rows = session.connection().execute(
        _values_statement(dialect, key), _pair_params(dialect, cluster_ids, period, since)
    )
    return {cid: (value, logic.change(value, earlier)) for cid, value, earlier in rows}


@dataclass(frozen=True)
class _Column:
    """One measure over every cluster with a round in the period: how many have a value, the values' quartiles
    and the median of their changes."""

    n: int
    quartiles: tuple[float, float, float] | None
    median_change: float | None


@dataclass(frozen=True)
class _Summary:
    """The heat map over all its rows, whichever page is shown: each column's summary, and the clusters with a
    round in the period (the rows) with their value of the sort column."""

    columns: dict[str, _Column]
    rows: dict[int, float | None]


@lru_cache(maxsize=64)
def _summary_statement(keys: tuple[str, ...], sort: str) -> Any:
    """PostgreSQL's aggregate pass: per key its count, quartiles and median change; the rows with their sort
    values."""
    p = _pivoted("postgresql", keys)
    aggregates: list[Any] = []
    for now, before in p.figures:
        spread = func.percentile_cont(array([0.25, 0.5, 0.75])).within_group(now)
        aggregates += [func.count(now), spread, func.percentile_cont(0.5).within_group(now - before)]
    by = p.figures[keys.index(sort)][0] if sort in keys else null().cast(Float)
    rows = (func.array_agg(p.pair.c.cluster_id), func.array_agg(by))
    return sa_select(*aggregates, *rows).select_from(p.joined).where(p.pair.c.round_id.is_not(None))


def _summary(
    session: Session, cluster_ids: Sequence[int], period: str, since: str | None, keys: Sequence[str], sort: str
) -> _Summary:
    """On PostgreSQL one aggregate pass there (`percentile_cont`, the interpolation of logic.inclusive_quartiles);
    elsewhere in Python from every cell."""
    if not cluster_ids:
        return _Summary({key: _Column(0, None, None) for key in keys}, {})
    if _dialect(session) != "postgresql":
        cells = _cells(session, cluster_ids, period, since, keys)
        columns = {}
        for key in keys:
            values = sorted(c.values[key][0] for c in cells.values() if key in c.values)
            changes = [moved for c in cells.values() if key in c.values and (moved := c.values[key][1]) is not None]
            quartiles = logic.inclusive_quartiles(values) if values else None
            columns[key] = _Column(len(values), quartiles, logic.median(changes))
        return _Summary(columns, {cid: c.values.get(sort, (None, None))[0] for cid, c in cells.items()})
    params = _pair_params("postgresql", cluster_ids, period, since)
    *got, ids, values = session.connection().execute(_summary_statement(tuple(keys), sort), params).one()
    columns = {}
    for i, key in enumerate(keys):
        n, quartiles, moved = got[3 * i : 3 * i + 3]
        columns[key] = _Column(n, tuple(quartiles) if quartiles else None, moved)
    return _Summary(columns, dict(zip(ids or [], values or [], strict=True)))


@dataclass
class _InPeriod(Generic[T]):
    periods: list[str]  # every period any of the clusters has a round in, newest first
    chosen: str | None
    since: str | None  # the period changes are measured from
    found: T | None  # what `read` gave for the chosen period


def _in_period(
    session: Session,
    clusters: list[Member],
    requested: str | None,
    read: Callable[[list[int], str, str | None], T],
    shows: Callable[[T], bool],
) -> _InPeriod[T]:
    """The agency views' common step: the clusters' requested (or latest) period and the one before it, which
    changes are measured from, with what `read` finds there."""
    ids = [m.cluster_id for m in clusters]
    periods = _all_periods(session, ids, closed_only=False)
    # Without a (known) requested period: the newest one with a value to show. The newest period may hold only
    # rounds just opened, with no answer yet: an empty table would say there is nothing to compare.
    candidates = [requested] if requested in periods else periods
    for chosen in candidates:
        assert chosen is not None
        base = next((p for p in periods if p < chosen), None)
        found = read(ids, chosen, base)
        if shows(found) or chosen == candidates[-1]:
            return _InPeriod(periods, chosen, base, found)
    return _InPeriod(periods, None, None, None)


# The heat map's column sets: the kinds of measure each shows.
HEATMAP_COLUMNS = {"perspective": ("overall", "perspective"), "csf": ("overall", "csf"), "kpi": ("kpi",)}


# Rows of the heat map page (its summary row is over every row); exports and API callers may ask for all.
HEATMAP_PAGE = 50


def heatmap(
    session: Session,
    principal: Principal,
    *,
    template_key: str,
    period: str | None,
    filters: dict[str, str],
    columns: str = "csf",
    sort: str = "cluster",
    descending: bool = False,
    page: int = 1,
    per_page: int | None = HEATMAP_PAGE,
    lang: str | None = None,
) -> Heatmap:
    """Agency staff: the sharing clusters of their programmes by name x the overall score and the perspective or
    CSF scores, or x the raw template KPI values (`columns`), sorted by `sort` (a column's measure key, or
    "cluster" for the name), `per_page` rows at a time (None: all). The medians and quartiles are over all rows.
    `lang`: of the titles (the template's first language when None, as the JSON API gives them)."""
    spec = _template(session, template_key)
    members = _named(_population(session, template_key), principal)
    options = _options(members)
    clean = {d: v for d, v in filters.items() if d in logic.DIMENSIONS and v}
    shown = _filtered(members, clean)
    columns = columns if columns in HEATMAP_COLUMNS else "csf"
    shown_measures = [m for m in measures(spec, lang=lang) if m.kind in HEATMAP_COLUMNS[columns]]
    keys = [m.key for m in shown_measures]
    sort = sort if sort in keys else "cluster"

    def read(ids: list[int], chosen: str, base: str | None) -> _Summary:
        return _summary(session, ids, chosen, base, keys, sort)

    found = _in_period(session, shown, period, read, lambda summary: any(c.n for c in summary.columns.values()))
    summary = found.found or _Summary({k: _Column(0, None, None) for k in keys}, {})
    listed = [m for m in shown if m.cluster_id in summary.rows]
    if sort != "cluster":
        listed = logic.ordered(listed, lambda m: summary.rows[m.cluster_id], descending=descending)
    elif descending:
        listed.reverse()
    shown_page = logic.Page.of(len(listed), page, per_page)
    listed = listed[shown_page.start : shown_page.stop]
    cells = _cells(session, [m.cluster_id for m in listed], found.chosen, found.since, keys) if found.chosen else {}
    rows = []
    for m in listed:
        cell = cells[m.cluster_id]
        got = {k: cell.values.get(k, (None, None)) for k in keys}
        rows.append(
            HeatmapRow(
                cluster_id=m.cluster_id,
                cluster_name=m.name,
                programme_id=m.programme_id,
                round_id=cell.round.round_id,
                round_label=cell.round.label,
                round_status=cell.round.status,
                revision=cell.revision,
                values={k: value for k, (value, _change) in got.items()},
                changes={k: change for k, (_value, change) in got.items()},
            )
        )
    return Heatmap(
        template_key=template_key,
        period=found.chosen,
        periods=found.periods,
        since=found.since,
        filters=clean,
        options=options,
        columns=columns,
        sort=sort,
        descending=descending,
        measures=shown_measures,
        total=len(summary.rows),
        page=shown_page.number,
        pages=shown_page.pages,
        per_page=per_page,
        rows=rows,
        median={k: c.quartiles[1] if c.quartiles else None for k, c in summary.columns.items()},
        quartiles={k: c.quartiles for k, c in summary.columns.items()},
        median_change={k: c.median_change for k, c in summary.columns.items()},
        freshness=freshness(session, [m.cluster_id for m in shown]),
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
    key = chosen_measure.key

    def read(ids: list[int], chosen: str, base: str | None) -> dict[int, tuple[float, float | None]]:
        return _values_of(session, ids, chosen, base, key)

    found = _in_period(session, members, period, read, bool)
    values = found.found or {}
    points = []
    for m in members:
        if m.cluster_id in values:
            value, change = values[m.cluster_id]
            points.append(DistributionPoint(cluster_id=m.cluster_id, cluster_name=m.name, value=value, change=change))
    points.sort(key=lambda p: -p.value)
    return Distribution(
        template_key=template_key,
        period=found.chosen,
        periods=found.periods,
        since=found.since,
        measure=chosen_measure,
        measures=all_measures,
        points=points,
        stats=_stats(logic.peer_stats([p.value for p in points], None, exact=True)),
        freshness=freshness(session, [m.cluster_id for m in members]),
    )


def changes(
    session: Session,
    principal: Principal,
    *,
    template_key: str,
    measure: str,
    since: str | None,
    period: str | None,
    filters: dict[str, str],
    lang: str | None = None,
) -> ChangeRanking:
    """Agency staff: their named sharing clusters ranked by the change of one measure from `since` to `period`
    (defaults: the latest period and the one before it), largest increase first, with the quartiles of the
    changes (the peers' median change). Clusters without a value in both periods are not ranked."""
    spec = _template(session, template_key)
    all_measures = measures(spec, lang=lang)
    chosen_measure = next((m for m in all_measures if m.key == measure), all_measures[0])
    members = _named(_population(session, template_key), principal)
    options = _options(members)
    clean = {d: v for d, v in filters.items() if d in logic.DIMENSIONS and v}
    shown = _filtered(members, clean)
    rounds = _rounds_by_period(session, [m.cluster_id for m in shown], closed_only=False)
    periods = _periods(rounds)
    to = _pick_period(period, periods)
    earlier = [p for p in periods if to is not None and p < to]
    base = since if since in earlier else (earlier[0] if earlier else None)
    rows: list[ChangeRow] = []
    if to is not None and base is not None:
        picked = _pick(rounds, Slice(to, base))
        values = _values(session, [r.round_id for pair in picked.values() for r in pair], [chosen_measure.key])
        for m in shown:
            if m.cluster_id not in picked:
                continue
            after_ref, before_ref = picked[m.cluster_id]
            after = values.get(after_ref.round_id, {}).get(chosen_measure.key)
            before = values.get(before_ref.round_id, {}).get(chosen_measure.key)
            moved = logic.change(after, before)
            if after is not None and before is not None and moved is not None:
                rows.append(
                    ChangeRow(
                        rank=0,
                        cluster_id=m.cluster_id,
                        cluster_name=m.name,
                        programme_id=m.programme_id,
                        before=before,
                        after=after,
                        change=moved,
                    )
                )
    rows.sort(key=lambda r: (-r.change, r.cluster_name, r.cluster_id))
    for i, row in enumerate(rows):
        row.rank = rows[i - 1].rank if i and rows[i - 1].change == row.change else i + 1
    return ChangeRanking(
        template_key=template_key,
        measure=chosen_measure,
        measures=all_measures,
        since=base,
        period=to,
        periods=periods,
        filters=clean,
        options=options,
        rows=rows,
        stats=_stats(logic.peer_stats([r.change for r in rows], None, exact=True)),
        freshness=freshness(session, [m.cluster_id for m in shown]),
    )


# --- one cluster against its peers ------------------------------------------------------


def _template_key_of(session: Session, cluster: Cluster) -> str:
    return scorecard_service.key_of_version(session, cluster.template_version_id)


NO_PEER_VALUE = _l("No peer has a value for this yet.")


def too_few(min_group: int) -> Any:
    return _l("Fewer than %(n)s peers: not shown, to protect each of them.", n=min_group)


GROUPS_TOO_CLOSE = _l(
    "Not shown: this group differs by too few clusters from another peer group, "
    "so comparing the two would expose individual clusters."
)
CHANGED_SINCE_SHOWN = _l(
    "Not shown: this period's peer group changed by too few clusters since its figures were shown to you, "
    "so comparing the two would expose individual clusters."
)

# Translators: the bounds of a cluster's position among its peers, as in "between the lower quartile and the median".
QUARTILE_NAMES = {"q1": _l("the lower quartile"), "median": _l("the median"), "q3": _l("the upper quartile")}


def band_label(band: str) -> str:
    """A position band (logic.rank_band) in the reader's language: "between the lower quartile and the median"."""
    lower, upper = band.split("-")
    if lower == "min":
        return _l("below %(upper)s", upper=QUARTILE_NAMES[upper]).localized()
    if upper == "max":
        return _l("at or above %(lower)s", lower=QUARTILE_NAMES[lower]).localized()
    return _l("between %(lower)s and %(upper)s", lower=QUARTILE_NAMES[lower], upper=QUARTILE_NAMES[upper]).localized()


@dataclass(frozen=True)
class Compared:
    """One measure of one slice: the cluster's own value and the peers' statistics, or why they are withheld."""

    own: float | None
    stats: logic.PeerStats | None
    withheld: Any = None  # a message (app.i18n.translation._l), translated when shown


@dataclass
class _Comparison:
    """A cluster against its peers: `compare` gives, for each measure of each slice asked, a Compared."""

    periods: list[str]
    attributes: Callable[[str], Mapping[str, str | None]]
    compare: Callable[[Sequence[Ask]], dict[Ask, Compared]]


def _slices(asks: Sequence[Ask]) -> list[Slice]:
    return list(dict.fromkeys(sl for sl, _ in asks))


def _pick(per_cluster: Mapping[int, Mapping[str, Any]], sl: Slice) -> dict[int, tuple[Any, Any]]:
    """Each cluster's entry of the slice's period, with its entry of `since`; clusters without both are out."""
    return {
        cid: (per[sl.period], per[sl.since] if sl.since else None)
        for cid, per in per_cluster.items()
        if sl.period in per and (sl.since is None or sl.since in per)
    }


def _named_comparison(
    session: Session, principal: Principal, cluster: Cluster, population: list[Member], dims: frozenset[str]
) -> _Comparison:
    """Agency staff of the cluster's programme: the named sharing clusters of their programmes, open rounds too."""
    assert cluster.id is not None
    own = _member_of(cluster)
    peers = [m for m in _named(population, principal) if m.cluster_id != cluster.id]
    ids = [m.cluster_id for m in [*peers, own]]
    rounds = _rounds_by_period(session, ids, closed_only=False)
    group = logic.PeerIndex(m.peer for m in peers).group(own.peer, dims, {cluster.id})

    def compare(asks: Sequence[Ask]) -> dict[Ask, Compared]:
        picks = {
            sl: {cid: (ref.round_id, base.round_id if base else None) for cid, (ref, base) in _pick(rounds, sl).items()}
            for sl in _slices(asks)
        }
        data = _slice_data(session, picks, asks, cluster.id or 0, dict.fromkeys(picks, group), exact=True)
        return {
            ask: Compared(data.own[ask], data.stats[ask])
            if group & data.having[ask]
            else Compared(data.own[ask], None, NO_PEER_VALUE)
            for ask in asks
        }

    return _Comparison(sorted(rounds.get(cluster.id, {}), reverse=True), lambda _period: own.peer.attributes, compare)


# --- the differencing control's family of groups -----------------------------------------

Group = dict[int, tuple[logic.Contribution, logic.Contribution | None]]  # peer -> its entries in period and since


@dataclass
class _Family:
    """What the differencing control of one comparison reads (docs/disclosure.md, rule 3): for each measure asked,
    the tally of peers with a value by their mask around each of the viewer's clusters (logic.released_around),
    and for each slice the peers of the group asked for around the viewed cluster."""

    tallies: dict[Ask, dict[tuple[int, int, bool], int]]
    groups: dict[Slice, Group]


def _python_family(
    session: Session, ids: Sequence[int], own_id: int, owns: set[int], exclude: set[int], dims: int, asks: Sequence[Ask]
) -> _Family:
    """Portable (SQLite): every entry and value of the population comes into Python."""
    entries = _entries_by_period(session, ids)
    chosen = {sl: _pick(entries, sl) for sl in _slices(asks)}
    masks: dict[Slice, dict[int, dict[int, int]]] = {}  # peer -> viewer's cluster -> mask
    groups: dict[Slice, Group] = {}
    for sl, in_slice in chosen.items():
        around = {o: in_slice[o][0].peer for o in owns | {own_id} if o in in_slice}
        peers = {cid: f.peer for cid, (f, _b) in in_slice.items() if cid not in exclude and own_id in around}
        masks[sl] = {cid: {o: logic.matching_mask(p, a) for o, a in around.items()} for cid, p in peers.items()}
        groups[sl] = {
            cid: (f.contribution, b.contribution if b else None)
            for cid, (f, b) in in_slice.items()
            if cid in peers and masks[sl][cid][own_id] & dims == dims
        }
    tallies: dict[Ask, dict[tuple[int, int, bool], int]] = {}
    for sl, key in asks:
        tally: dict[tuple[int, int, bool], int] = defaultdict(int)
        for cid, around_masks in masks[sl].items():
            f, b = chosen[sl][cid]
            if key in f.measures and (b is None or key in b.measures):  # a change needs a value in both periods
                for o, mask in around_masks.items():
                    tally[(o, mask, cid in groups[sl])] += 1
        tallies[(sl, key)] = tally
    return _Family(tallies, groups)


def _pg_mask(peer: str, around: str) -> str:
    """SQL for logic.matching_mask: a bit per dimension on which `peer` matches `around` (never on no value)."""
    p, o = peer, around
    return f"""((({p}.programme_id = {o}.programme_id)::int)
        | (coalesce({o}.sector <> '' AND {p}.sector = {o}.sector, false)::int << 1)
        | (coalesce({o}.country <> '' AND {p}.country = {o}.country, false)::int << 2)
        | (coalesce({o}.region <> '' AND {p}.region = {o}.region, false)::int << 3)
        | (coalesce({o}.typology <> '' AND {p}.typology = {o}.typology, false)::int << 4)
        | (coalesce({o}.stage <> '' AND {p}.stage = {o}.stage, false)::int << 5))"""


# On PostgreSQL the entries stay in the database. `entry`: each sharing cluster's frozen entry per period (and the
# viewed cluster's, shared or not); `in_slice`: those with an entry in the slice's period and, for a change, in
# `since`; `mine`: the viewer's clusters among them; `peer`: the others in the slices the viewed cluster is in, and
# whether they are in the group asked for.
_PG_PEERS = f"""
WITH entry AS (
    SELECT DISTINCT ON (e.cluster_id, e.period) e.cluster_id, e.period, e.round_id, e.revision, e.programme_id,
           e.sector, e.country, e.region, e.typology, e.stage, e.measure_set
    FROM benchmark_entry e JOIN cluster c ON c.id = e.cluster_id JOIN template_version t ON t.id = c.template_version_id
    WHERE e.reopened_at IS NULL AND (c.id = :own OR (:sharing AND c.shares_benchmarks AND t.key = :template))
    ORDER BY e.cluster_id, e.period, e.period_end DESC, e.round_id DESC
), slice AS (
    SELECT * FROM unnest(CAST(:s_slice AS int[]), CAST(:s_period AS text[]), CAST(:s_since AS text[]))
        AS t(slice, period, since)
), in_slice AS (
    SELECT s.slice, e.*, b.round_id AS base_id, b.revision AS base_revision, b.measure_set AS base_set
    FROM slice s JOIN entry e ON e.period = s.period
    LEFT JOIN entry b ON b.cluster_id = e.cluster_id AND b.period = s.since
    WHERE s.since IS NULL OR b.round_id IS NOT NULL
), mine AS (
    SELECT * FROM in_slice WHERE cluster_id = ANY(CAST(:owns AS int[]))
), peer AS MATERIALIZED (
    SELECT p.*, {_pg_mask("p", "v")} & :dims = :dims AS in_group
    FROM in_slice p JOIN mine v ON v.slice = p.slice AND v.cluster_id = :own
    WHERE p.cluster_id <> ALL(CAST(:exclude AS int[]))
)
"""
# One statement reads the frozen entries once and returns two kinds of row. Tally rows (a measure): the peers with a
# value (or a change: a value in both periods) per measure asked, by viewer's cluster, mask and whether they are in
# the group asked for, from the set of measures of each entry; peers alike in all of these are counted together
# first, so that each set is expanded into its measures once per mask, not once per peer. Group rows (no measure):
# the peers of the group asked for, with the entries they contribute.
_PG_FAMILY = text(
    _PG_PEERS
    + f""", around AS (
    SELECT p.slice, p.in_group, o.cluster_id, {_pg_mask("p", "o")} AS mask, p.measure_set, p.base_set, count(*) AS n
    FROM peer p JOIN mine o ON o.slice = p.slice
    GROUP BY 1, 2, 3, 4, 5, 6
), ask AS (
    SELECT * FROM unnest(CAST(:a_slice AS int[]), CAST(:a_measure AS text[])) AS t(slice, measure)
), tally AS (
    SELECT a.slice, a.measure, p.cluster_id, p.mask, p.in_group, sum(p.n)::int AS n
    FROM around p JOIN benchmark_measure_set s ON s.fingerprint = p.measure_set
    LEFT JOIN benchmark_measure_set b ON b.fingerprint = p.base_set
    CROSS JOIN LATERAL unnest(string_to_array(s.measures, ' ')) AS m(measure)
    JOIN ask a ON a.slice = p.slice AND a.measure = m.measure
    WHERE p.base_set IS NULL OR m.measure = ANY(string_to_array(b.measures, ' '))
    GROUP BY 1, 2, 3, 4, 5
)
SELECT slice, measure, cluster_id, mask, in_group, n,
       NULL::int AS round_id, NULL::int AS revision, NULL::int AS base_id, NULL::int AS base_revision
FROM tally
UNION ALL
SELECT slice, NULL, cluster_id, NULL, NULL, NULL, round_id, revision, base_id, base_revision FROM peer WHERE in_group
"""
)


def _postgres_family(
    session: Session,
    template_key: str,
    *,
    own_id: int,
    sharing: bool,
    owns: set[int],
    exclude: set[int],
    dims: int,
    asks: Sequence[Ask],
) -> _Family:
    """The same tallies and groups computed by PostgreSQL in one statement: a few rows per measure come back, and
    one per peer of the group asked for."""
    slices = _slices(asks)
    slice_ids = {sl: i for i, sl in enumerate(slices)}
    parameters = {
        "own": own_id,
        "sharing": sharing,
        "template": template_key,
        "s_slice": list(range(len(slices))),
        "s_period": [sl.period for sl in slices],
        "s_since": [sl.since for sl in slices],
        "owns": sorted(owns | {own_id}),
        "exclude": sorted(exclude),
        "dims": dims,
    }
    tallies: dict[Ask, dict[tuple[int, int, bool], int]] = {ask: {} for ask in asks}
    groups: dict[Slice, Group] = {sl: {} for sl in slices}
    asked = {"a_slice": [slice_ids[sl] for sl, _key in asks], "a_measure": [key for _sl, key in asks]}
    rows = session.connection().execute(_PG_FAMILY, {**parameters, **asked})
    for slice_id, key, cid, mask, in_group, n, round_id, revision, base_id, base_revision in rows:
        if key is not None:  # a tally row: `cid` is the viewer's cluster the mask is around
            tallies[(slices[slice_id], key)][(cid, mask, in_group)] = n
        else:  # a group row: `cid` is a peer of the group asked for
            base = None if base_id is None else (base_id, base_revision)
            groups[slices[slice_id]][cid] = ((round_id, revision), base)
    return _Family(tallies, groups)


def _aggregate_comparison(
    session: Session,
    principal: Principal,
    cluster: Cluster,
    template_key: str,
    dims: frozenset[str],
    min_group: int,
) -> _Comparison:
    """Everyone else: aggregates of frozen closed rounds under the disclosure rules (docs/disclosure.md). A
    change between two periods is a value like a level, checked like another measure: its groups are built from
    the later period's frozen attributes over the peers with an entry in both periods."""
    own_id = cluster.id
    assert own_id is not None
    viewer = policy.benchmark_viewer(session, principal)
    exclude = set(viewer.exclude | {own_id})
    own_entries = _entries_by_period(session, [own_id])
    dims_mask = logic.dimension_mask(dims)

    def family(asks: Sequence[Ask]) -> _Family:
        """Every group this session could ask for around each of its clusters, per measure narrowed to the peers
        that have a value: logic.released_around decides over that whole family."""
        if _dialect(session) == "postgresql":
            return _postgres_family(
                session,
                template_key,
                own_id=own_id,
                sharing=cluster.shares_benchmarks,
                owns=set(viewer.owns),
                exclude=exclude,
                dims=dims_mask,
                asks=asks,
            )
        # Who does not give does not get: a cluster that does not share has no peers.
        sharing = {m.cluster_id for m in _population(session, template_key)} if cluster.shares_benchmarks else set()
        return _python_family(session, sorted(sharing | {own_id}), own_id, set(viewer.owns), exclude, dims_mask, asks)

    def compare(asks: Sequence[Ask]) -> dict[Ask, Compared]:
        found = family(asks)
        mine = {sl: _pick(own_entries, sl).get(own_id) for sl in _slices(asks)}
        # A slice the viewed cluster has no entry in has no group around it.
        groups = {sl: found.groups.get(sl, {}) if pair else {} for sl, pair in mine.items()}
        picks: dict[Slice, dict[int, tuple[int, int | None]]] = {
            sl: {cid: (entry[0], base[0] if base else None) for cid, (entry, base) in group.items()}
            for sl, group in groups.items()
        }
        for sl, pair in mine.items():
            if pair is not None:
                picks[sl][own_id] = (pair[0].round_id, pair[1].round_id if pair[1] else None)
        data = _slice_data(session, picks, asks, own_id, {sl: frozenset(g) for sl, g in groups.items()}, exact=False)
        decided: dict[frozenset[tuple[tuple[int, int, bool], int]], bool] = {}
        results: dict[Ask, Compared] = {}
        requests: dict[Ask, frozenset[int]] = {}
        for ask in asks:
            members = frozenset(groups[ask[0]]) & data.having[ask]
            tally = found.tallies.get(ask, {})
            decision_key = frozenset(tally.items())
            if members and decision_key not in decided:
                decided[decision_key] = logic.released_around(tally, own_id, min_group)
            if not members:
                results[ask] = Compared(data.own[ask], None, NO_PEER_VALUE)
            elif len(members) < min_group:
                results[ask] = Compared(data.own[ask], None, too_few(min_group))
            elif not decided[decision_key]:
                results[ask] = Compared(data.own[ask], None, GROUPS_TOO_CLOSE)
            else:
                requests[ask] = members
        candidates: list[history.Candidate] = []
        asked_by: list[Ask] = []
        # Usually one group of peers stands behind every measure of a slice: each is built (and fingerprinted) once.
        shown: dict[tuple[Slice, int, frozenset[int]], history.Group] = {}
        for (sl, key), members in requests.items():
            if sl.since is None:
                sides = [(sl.period, key, 0)]
            else:
                # A change rests on two entries per peer: recorded as two groups, one per period, under a measure
                # of its own ("2025-H1->overall" in 2025-H2, "2025-H2<-overall" in 2025-H1; at most 77 characters),
                # so that a revision of either entry, or a peer joining, differs from what was shown.
                sides = [(sl.period, f"{sl.since}->{key}", 0), (sl.since, f"{sl.period}<-{key}", 1)]
            for period, measure, side in sides:
                # (side 1, the entry in `since`, is there for every peer of a change's group)
                if (sl, side, members) not in shown:
                    contributions = {cid: entry for cid in members if (entry := groups[sl][cid][side]) is not None}
                    shown[(sl, side, members)] = history.Group(contributions)
                candidates.append(history.Candidate(period, measure, shown[(sl, side, members)]))
                asked_by.append((sl, key))
        refused = history.release(
            session, audience=viewer.audience, audiences=viewer.audiences, candidates=candidates, min_group=min_group
        )
        for i in refused:
            results[asked_by[i]] = Compared(data.own[asked_by[i]], None, CHANGED_SINCE_SHOWN)
            requests.pop(asked_by[i], None)
        results.update({ask: Compared(data.own[ask], data.stats[ask]) for ask in requests})
        return results

    def attributes(period: str) -> Mapping[str, str | None]:
        return own_entries[own_id][period].peer.attributes

    return _Comparison(sorted(own_entries.get(own_id, {}), reverse=True), attributes, compare)


def _comparison(
    session: Session, principal: Principal, cluster: Cluster, *, dimensions: Iterable[str], min_group: int
) -> tuple[str, TemplateSpec, frozenset[str], bool, _Comparison]:
    """The comparison a viewer may make of a cluster (named for agency staff of its programme, else aggregate)."""
    template_key = _template_key_of(session, cluster)
    spec = _template(session, template_key)
    dims = frozenset(d for d in dimensions if d in logic.DIMENSIONS)
    named_mode = policy.sees_benchmark_names(principal, cluster.programme_id)
    if named_mode:
        comparison = _named_comparison(session, principal, cluster, _population(session, template_key), dims)
    else:
        comparison = _aggregate_comparison(session, principal, cluster, template_key, dims, min_group)
    return template_key, spec, dims, named_mode, comparison


def _localized(reason: Any, lang: str | None) -> str | None:
    return None if reason is None else str(reason.localized(lang))


def _trend_points(comparison: _Comparison, key: str, lang: str | None, got: Mapping[Ask, Compared]) -> list[TrendPoint]:
    points = []
    for p in sorted(comparison.periods):
        c = got[(Slice(p), key)]
        points.append(
            TrendPoint(
                period=p,
                own=c.own,
                peers=c.stats.n if c.stats else None,
                q1=c.stats.q1 if c.stats else None,
                peer_median=c.stats.median if c.stats else None,
                q3=c.stats.q3 if c.stats else None,
                withheld=_localized(c.withheld, lang),
            )
        )
    return points


def profile(
    session: Session,
    principal: Principal,
    cluster: Cluster,
    *,
    dimensions: Iterable[str],
    period: str | None,
    trend_measure: str,
    min_group: int,
    since: str | None = None,
    lang: str | None = None,
) -> Profile:
    """A cluster's core scores against its peer group, with the trend of one measure over every period and, when
    `since` names an earlier period of the cluster, each measure's change since then (own and peers').

    Agency staff of the cluster's programme (and admins) compare it with the named sharing clusters of their
    programmes. Everyone else gets aggregates of frozen closed rounds only, under the rules of
    docs/disclosure.md: the cluster must share itself, the viewer's clusters are never peers, and a group is
    shown only when logic.releasable allows it among every group the viewer can ask for now and the release
    history allows it after everything shown to them before. A change is a value: the same rules apply to it.
    """
    assert cluster.id is not None
    template_key, spec, dims, named_mode, comparison = _comparison(
        session, principal, cluster, dimensions=dimensions, min_group=min_group
    )
    all_measures = measures(spec, lang=lang)
    chosen = _pick_period(period, comparison.periods)
    base = since if since in comparison.periods and chosen is not None and since < chosen else None
    trend_key = trend_measure if any(m.key == trend_measure for m in all_measures) else "overall"
    asks: list[Ask] = [(Slice(p), trend_key) for p in comparison.periods]
    if chosen is not None:
        asks += [(Slice(chosen), m.key) for m in all_measures]
        if base is not None:
            asks += [(Slice(chosen, base), m.key) for m in all_measures]
    got = comparison.compare(list(dict.fromkeys(asks)))
    measure_rows: list[PeerMeasure] = []
    if chosen is not None:
        for m in all_measures:
            level = got[(Slice(chosen), m.key)]
            moved = got.get((Slice(chosen, base), m.key)) if base else None
            measure_rows.append(
                PeerMeasure(
                    measure=m,
                    own=level.own,
                    peers=_stats(level.stats),
                    withheld=_localized(level.withheld, lang),
                    change=None
                    if moved is None
                    else ChangeRead(
                        since=base or "",
                        own=moved.own,
                        peers=_stats(moved.stats),
                        withheld=_localized(moved.withheld, lang),
                    ),
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
        periods=comparison.periods,
        since=base,
        attributes=dict(comparison.attributes(chosen)) if chosen else {},
        dimensions=sorted(dims, key=logic.DIMENSIONS.index),
        measures=measure_rows,
        trend_measure=trend_key,
        trend=_trend_points(comparison, trend_key, lang, got),
        freshness=freshness(session, [cluster.id]),
    )


def trend(
    session: Session,
    principal: Principal,
    cluster: Cluster,
    *,
    measure: str,
    dimensions: Iterable[str],
    min_group: int,
    lang: str | None = None,
) -> Trend:
    """One measure of a cluster over every period it has a round in, oldest first, with its peer group's
    quartiles per period (`q1`, `peer_median`, `q3`: the interquartile band), under the same rules as `profile`
    (a quartile that would be one peer's figure is null; a withheld period says why in `withheld`)."""
    assert cluster.id is not None
    template_key, spec, dims, named_mode, comparison = _comparison(
        session, principal, cluster, dimensions=dimensions, min_group=min_group
    )
    all_measures = measures(spec, lang=lang)
    chosen = next((m for m in all_measures if m.key == measure), all_measures[0])
    got = comparison.compare([(Slice(p), chosen.key) for p in comparison.periods])
    return Trend(
        cluster_id=cluster.id,
        cluster_name=cluster.name,
        template_key=template_key,
        mode="named" if named_mode else "aggregate",
        min_group=min_group,
        dimensions=sorted(dims, key=logic.DIMENSIONS.index),
        measure=chosen,
        measures=all_measures,
        points=_trend_points(comparison, chosen.key, lang, got),
        freshness=freshness(session, [cluster.id]),
    )


# --- the observatory --------------------------------------------------------------------


def _custom_kpis(session: Session, principal: Principal, template_key: str) -> list[tuple[ClusterKpi, Cluster]]:
    """Indicators of sharing clusters only: the observatory, its counts and promotion respect consent exactly
    as the scores do (docs/disclosure.md, rule 1)."""
    named = policy.benchmark_named_programmes(principal)
    statement = (
        select(ClusterKpi, Cluster)
        .join(Cluster, col(Cluster.id) == col(ClusterKpi.cluster_id))
        .join(TemplateVersion, col(TemplateVersion.id) == col(Cluster.template_version_id))
        .where(
            ClusterKpi.is_custom == True,  # noqa: E712
            Cluster.shares_benchmarks == True,  # noqa: E712
            TemplateVersion.key == template_key,
        )
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


Move = tuple[str, float, float | None]  # period, value, change since the period before


def _latest_moves(session: Session, rows: Sequence[tuple[ClusterKpi, Cluster]]) -> dict[int, Move]:
    """Of each cluster-level indicator: its latest period with a value, that value, and its change since the
    cluster's period before (one query for the rounds, one for the values)."""
    rounds = _rounds_by_period(session, sorted({c.id for _k, c in rows if c.id is not None}), closed_only=False)
    round_ids = [ref.round_id for per in rounds.values() for ref in per.values()]
    keys = sorted({k.key for k, _c in rows})
    values: dict[tuple[int, str], float] = {}
    if round_ids and keys:
        dialect = _dialect(session)
        statement = sa_select(col(KpiValue.round_id), col(KpiValue.kpi_key), col(KpiValue.value)).where(
            _among(dialect, col(KpiValue.round_id)), col(KpiValue.kpi_key).in_(keys)
        )
        found = session.connection().execute(statement, {"ids": _ids(dialect, round_ids)})
        values = {(rid, key): value for rid, key, value in found}
    out: dict[int, Move] = {}
    for kpi, cluster in rows:
        series = [
            (period, values[(ref.round_id, kpi.key)])
            for period, ref in sorted(rounds.get(cluster.id or 0, {}).items())
            if (ref.round_id, kpi.key) in values
        ]
        if series and kpi.id is not None:
            before = series[-2][1] if len(series) > 1 else None
            out[kpi.id] = (series[-1][0], series[-1][1], logic.change(series[-1][1], before))
    return out


def observatory(session: Session, principal: Principal, *, template_key: str | None) -> Observatory:
    """Indicators clusters defined themselves, by CSF, with alike wordings grouped across clusters and languages
    (logic.group_similar), how many clusters use each group and how their values moved last."""
    keys = template_keys(session)
    key = template_key if template_key in keys else (keys[0] if keys else "")
    if not key:
        return Observatory(template_key="", template_keys=[], csfs=[])
    spec = _template(session, key)
    lang = spec.languages[0]
    rows = _custom_kpis(session, principal, key)
    moves = _latest_moves(session, rows)
    by_csf: dict[str, list[ObservedKpi]] = defaultdict(list)
    for row, cluster in rows:
        item = _observed(row, cluster)
        if item.id in moves:
            item.period, item.value, item.change = moves[item.id]
        by_csf[row.csf_key].append(item)
    csfs = []
    for _p, csf in ((p, c) for p in spec.perspectives for c in p.csfs):
        observed = by_csf.get(csf.key, [])
        if not observed:
            continue
        texts = [o.title for o in observed]
        groups = []
        for indices in logic.group_similar(texts):
            items = [observed[i] for i in indices]
            moved = [i.change for i in items if i.change is not None]
            groups.append(
                SimilarGroup(
                    representative=items[0],
                    clusters=len({i.cluster_id for i in items}),
                    indicators=items,
                    rising=sum(1 for c in moved if c > 0),
                    falling=sum(1 for c in moved if c < 0),
                    steady=sum(1 for c in moved if c == 0),
                )
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
        if kpi["level"] == "member" and row.asked_of:
            kpi["asked_of"] = row.asked_of
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
        raise InvalidInput("%(file)s already exists in the scorecards directory.", file=name)
    # Loaded first: should loading fail, no file is left behind to block the next attempt.
    scorecard_service.load_spec(session, spec, source_file=name)
    path.write_text(text, encoding="utf-8")
    return name


# --- exports ----------------------------------------------------------------------------


# Exports: every view's table with its change (and, for one cluster, its trend) columns. Column names stay as they
# are in every language (scripts read them); measure titles and summary rows speak the viewer's language. Each
# table is built from the view's own data, so a figure withheld from the view is absent from every format.


def table_of_heatmap(data: Heatmap, *, lang: str | None = None) -> tuple[list[str], list[list[Any]]]:
    header = [
        "cluster",
        "round",
        *[m.title for m in data.measures],
        *[f"change since {data.since}: {m.title}" for m in data.measures],
    ]
    rows: list[list[Any]] = [
        [
            r.cluster_name,
            r.round_label,
            *[r.values[m.key] for m in data.measures],
            *[r.changes[m.key] for m in data.measures],
        ]
        for r in data.rows
    ]
    median = _nl("median of %(num)s cluster", "median of %(num)s clusters", data.total).localized(lang)
    rows.append(
        [median, "", *[data.median[m.key] for m in data.measures], *[data.median_change[m.key] for m in data.measures]]
    )
    return header, rows


def _stat_cells(stats: PeerStatsRead | None) -> list[Any]:
    if stats is None:
        return [None] * 5
    return [stats.n, stats.q1, stats.median, stats.q3, stats.band]


def table_of_profile(data: Profile) -> tuple[list[str], list[list[Any]]]:
    """One row per measure (level and change since `data.since`), then one row per period of the trend."""
    header = [
        "measure",
        "kind",
        "period",
        "this cluster",
        "peers",
        "lower quartile",
        "median",
        "upper quartile",
        "position",
        "note",
        "change since",
        "change of this cluster",
        "peers with a change",
        "change lower quartile",
        "median change",
        "change upper quartile",
        "change position",
        "change note",
    ]
    rows: list[list[Any]] = []
    for m in data.measures:
        c = m.change
        change_cells = [None] * 8 if c is None else [c.since, c.own, *_stat_cells(c.peers), c.withheld or ""]
        level_cells = [data.period, m.own, *_stat_cells(m.peers), m.withheld or ""]
        rows.append([m.measure.title, m.measure.kind, *level_cells, *change_cells])
    title = next((m.measure.title for m in data.measures if m.measure.key == data.trend_measure), data.trend_measure)
    for t in data.trend:
        rows.append([title, "trend", *_trend_cells(t), *[None] * 8])
    return header, rows


def _trend_cells(t: TrendPoint) -> list[Any]:
    return [t.period, t.own, t.peers, t.q1, t.peer_median, t.q3, None, t.withheld or ""]


def table_of_trend(data: Trend) -> tuple[list[str], list[list[Any]]]:
    header = ["period", "this cluster", "peers", "lower quartile", "median", "upper quartile", "position", "note"]
    return header, [_trend_cells(t) for t in data.points]


def table_of_distribution(data: Distribution) -> tuple[list[str], list[list[Any]]]:
    header = ["cluster", data.measure.title, f"change since {data.since}"]
    return header, [[p.cluster_name, p.value, p.change] for p in data.points]


def table_of_changes(data: ChangeRanking, *, lang: str | None = None) -> tuple[list[str], list[list[Any]]]:
    title = data.measure.title
    header = ["rank", "cluster", f"{title}, {data.since}", f"{title}, {data.period}", "change"]
    rows: list[list[Any]] = [[r.rank, r.cluster_name, r.before, r.after, r.change] for r in data.rows]
    median = _nl("median of %(num)s cluster", "median of %(num)s clusters", len(data.rows)).localized(lang)
    rows.append(["", median, None, None, data.stats.median if data.stats else None])
    return header, rows


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
