"""Benchmarking at programme scale: `make bench-scale` (1,000 and 10,000 clusters).

Builds a scratch PostgreSQL database with a synthetic programme, then times the four benchmark views through the
service functions the routes call (agency heat map and distribution, one cluster's profile and its trend as a
facilitator sees them: aggregates under the disclosure rules), each beside hand-written SQL that computes the
same statistics over the same roll-ups, including the disclosure checks, and asserts that both give the same
figures. Prints medians (app and SQL in turns, so that a slow moment of the machine hits both), the app/SQL
ratios and the peak resident memory.

Two ways to fill the roll-ups:
- `--source rollups` (default): benchmark_entry and benchmark_value rows are written directly with COPY (random
  scores, KPI values with ties), which is what the views read. Makes 10,000 clusters x 4 rounds take a minute.
- `--source answers`: 25 members per cluster answer every question and rate every CSF (3 million answers at
  1,000 clusters), and the roll-ups are built the way the app builds them, cluster by cluster (minutes).

Options: --clusters, --rounds, --members, --runs, --source, --keep (leave the database for inspection).
PostgreSQL from BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

import argparse
import hashlib
import math
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import insert
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.auth.models import Grant, User
from app.auth.principal import Principal
from app.benchmarks import service
from app.benchmarks.models import BenchmarkSource
from app.clusters import service as cluster_service
from app.config import ROOT
from app.db import make_engine
from app.demo import _default_goal
from app.scorecards import service as scorecard_service

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TEMPLATE = "thai-food-cluster"
PERIODS = [
    (date(2024, 1, 1), date(2024, 6, 30)),
    (date(2024, 7, 1), date(2024, 12, 31)),
    (date(2025, 1, 1), date(2025, 6, 30)),
    (date(2025, 7, 1), date(2025, 12, 31)),
]
SECTORS = ["Food processing", "Seafood", "Fruit and vegetables", "Rice and grains", "Dairy"]
COUNTRIES = ["TH", "VN", "LA", "KH", "MM"]
TYPOLOGIES = ["italianate", "satellite", "hub_and_spoke", "survival", "fordist"]
STAGES = ["emerging", "growing", "mature", "declining"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def paired_medians(app: Callable[[], object], hand: Callable[[], object], runs: int) -> tuple[float, float]:
    """The app's and the hand-written SQL's median times, run in turns: a slow moment of a shared machine hits
    both sides rather than one."""
    times = [(_ms(app), _ms(hand)) for _ in range(runs)]
    return statistics.median(t for t, _ in times), statistics.median(t for _, t in times)


def _programme(
    cur: psycopg.Cursor[Any], args: argparse.Namespace, rng: random.Random, now: datetime, version_id: int
) -> list[tuple[Any, ...]]:
    """The programme, its clusters (90 % sharing, five countries, random sector, region, typology and stage), their
    member firms and their rounds, with COPY; returns the cluster rows."""
    cur.execute(
        "INSERT INTO programme (id, name, agency, description, created_at) VALUES (1, %s, %s, '', %s)",
        ("Synthetic programme", "Bench agency", now),
    )
    clusters = []
    with cur.copy(
        "COPY cluster (id, programme_id, name, sector, country, region, typology, stage, template_version_id,"
        " shares_benchmarks, shows_members_results, created_at) FROM STDIN"
    ) as copy:
        for c in range(1, args.clusters + 1):
            country = COUNTRIES[c % len(COUNTRIES)]
            row = (
                c,
                1,
                f"Cluster {c:05d}",
                SECTORS[rng.randrange(len(SECTORS))],
                country,
                f"{country}-region-{rng.randrange(8)}",
                TYPOLOGIES[rng.randrange(len(TYPOLOGIES))],
                STAGES[rng.randrange(len(STAGES))],
                version_id,
                rng.random() < 0.9,
                True,
                now,
            )
            clusters.append(row)
            copy.write_row(row)
    with cur.copy(
        "COPY participant (id, cluster_id, organisation, organisation_type, person_name, active, created_at) FROM STDIN"
    ) as copy:
        for c in range(1, args.clusters + 1):
            for m in range(args.members):
                copy.write_row(((c - 1) * args.members + m + 1, c, f"Firm {c}-{m}", "firm", "Owner", True, now))
    with cur.copy(
        "COPY round (id, cluster_id, label, period_start, period_end, status, created_at) FROM STDIN"
    ) as copy:
        for c in range(1, args.clusters + 1):
            for r in range(args.rounds):
                start, end = PERIODS[r % len(PERIODS)]
                copy.write_row(((c - 1) * args.rounds + r + 1, c, f"Round {r + 1}", start, end, "closed", now))
    return clusters


def _analyse(conn: psycopg.Connection[Any], tables: list[str]) -> None:
    """Commit, move the sequences past the ids written, and give the planner fresh statistics."""
    for table in ("programme", "cluster", "participant", "round", *tables):
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE")
    conn.autocommit = False


def generate(conn: psycopg.Connection[Any], spec: Any, version_id: int, args: argparse.Namespace) -> int:
    """Stream every row into COPY as it is made: nothing is collected in Python first."""
    rng = random.Random(2026)
    now = datetime.now(UTC)
    member_kpis = [k for _, _, k in spec.iter_kpis() if k.level == "member" and k.type != "text"]
    cluster_kpis = [k for _, _, k in spec.iter_kpis() if k.level == "cluster"]
    csf_keys = [c.key for p in spec.perspectives for c in p.csfs]
    answers = 0
    with conn.cursor() as cur:
        health = [rng.uniform(0.2, 0.8) for _ in range(args.clusters)]
        _programme(cur, args, rng, now, version_id)
        with cur.copy(
            "COPY cluster_kpi (cluster_id, key, csf_key, is_custom, active, baseline, target, weight, per_member,"
            " created_at) FROM STDIN"
        ) as copy:
            for c in range(1, args.clusters + 1):
                for _p, csf, kpi in spec.iter_kpis():
                    baseline, target = kpi.baseline, kpi.target
                    if baseline is None or target is None:
                        baseline, target = _default_goal(kpi, args.members)
                    copy.write_row((c, kpi.key, csf.key, False, True, baseline, target, kpi.weight, False, now))
        with cur.copy(
            "COPY response (id, round_id, participant_id, status, created_at, updated_at, submitted_at) FROM STDIN"
        ) as copy:
            for c in range(1, args.clusters + 1):
                for r in range(args.rounds):
                    round_id = (c - 1) * args.rounds + r + 1
                    for m in range(args.members):
                        response_id = (round_id - 1) * args.members + m + 1
                        participant_id = (c - 1) * args.members + m + 1
                        copy.write_row((response_id, round_id, participant_id, "submitted", now, now, now))
        with cur.copy("COPY answer (response_id, kpi_key, value_num, updated_at) FROM STDIN") as copy:
            for response_id, level in _members(args, health, rng):
                for kpi in member_kpis:
                    if kpi.type == "yes_no":
                        value = 1.0 if rng.random() < level else 0.0
                    elif kpi.type == "percent":
                        value = float(round(min(100, max(0, level * 100 + rng.gauss(0, 12)))))
                    elif kpi.type == "rating":
                        value = float(round(min(5, max(1, 1 + 4 * level))))
                    else:
                        value = float(max(0, round(level * 6 + rng.gauss(0, 1.5))))
                    copy.write_row((response_id, kpi.key, value, now))
                    answers += 1
        with cur.copy("COPY csf_rating (response_id, csf_key, rating, comment, updated_at) FROM STDIN") as copy:
            for response_id, level in _members(args, health, rng):
                for key in csf_keys:
                    copy.write_row(
                        (response_id, key, round(min(5, max(1, 1 + 4 * level + rng.gauss(0, 0.4)))), "", now)
                    )
                    answers += 1
        with cur.copy("COPY kpi_value (round_id, kpi_key, value, note, updated_at) FROM STDIN") as copy:
            for c in range(1, args.clusters + 1):
                for r in range(args.rounds):
                    for kpi in cluster_kpis:
                        high = 2 if kpi.type == "yes_no" else 20  # a yes/no fact is 1 or 0
                        copy.write_row(((c - 1) * args.rounds + r + 1, kpi.key, float(rng.randrange(0, high)), "", now))
        # One audit event per submission, as the app writes: the roll-up staleness check reads them.
        with cur.copy("COPY audit_event (at, actor, action, entity, entity_id, cluster_id) FROM STDIN") as copy:
            for c in range(1, args.clusters + 1):
                for r in range(args.rounds):
                    round_id = (c - 1) * args.rounds + r + 1
                    for m in range(args.members):
                        copy.write_row(
                            (now, "bench", "response_submitted", "response", (round_id - 1) * args.members + m + 1, c)
                        )
    _analyse(conn, ["response"])
    return answers


def _members(args: argparse.Namespace, health: list[float], rng: random.Random) -> Iterator[tuple[int, float]]:
    for c in range(1, args.clusters + 1):
        for r in range(args.rounds):
            round_id = (c - 1) * args.rounds + r + 1
            for m in range(args.members):
                level = min(0.95, max(0.05, health[c - 1] + 0.05 * r + rng.gauss(0, 0.12)))
                yield (round_id - 1) * args.members + m + 1, level


def generate_rollups(conn: psycopg.Connection[Any], spec: Any, version_id: int, args: argparse.Namespace) -> int:
    """Clusters, rounds, members, one audit event per round, and the roll-ups the views read: every round closed
    and frozen (benchmark_entry) with a value for every measure (benchmark_value). Scores have one decimal and
    KPI values are small whole numbers, so ties (withheld quartiles) occur as they do in real data."""
    rng = random.Random(2026)
    now = datetime.now(UTC)
    keys = [m.key for m in service.measures(spec)]
    values = 0
    with conn.cursor() as cur:
        clusters = _programme(cur, args, rng, now, version_id)
        listed = " ".join(sorted(keys))  # every entry has a value for every measure: one set
        present = hashlib.sha256(listed.encode()).hexdigest()
        cur.execute("INSERT INTO benchmark_measure_set (fingerprint, measures) VALUES (%s, %s)", (present, listed))
        with cur.copy(
            "COPY benchmark_entry (round_id, cluster_id, period, period_end, programme_id, sector, country, region,"
            " typology, stage, revision, measure_set, frozen_at) FROM STDIN"
        ) as copy:
            for cid, _p, _name, sector, country, region, typology, stage, *_rest in clusters:
                for r in range(args.rounds):
                    _start, end = PERIODS[r % len(PERIODS)]
                    period = f"{end.year}-H{1 if end.month <= 6 else 2}"
                    where = (1, sector, country, region, typology, stage)
                    copy.write_row(((cid - 1) * args.rounds + r + 1, cid, period, end, *where, 1, present, now))
        with cur.copy("COPY benchmark_value (round_id, cluster_id, measure, value) FROM STDIN") as copy:
            for c in range(1, args.clusters + 1):
                for r in range(args.rounds):
                    for key in keys:
                        value = float(rng.randrange(0, 20)) if key.startswith("kpi:") else round(rng.uniform(0, 100), 1)
                        copy.write_row(((c - 1) * args.rounds + r + 1, c, key, value))
                        values += 1
        with cur.copy("COPY audit_event (at, actor, action, entity, entity_id, cluster_id) FROM STDIN") as copy:
            for c in range(1, args.clusters + 1):
                for r in range(args.rounds):
                    copy.write_row((now, "bench", "round_status", "round", (c - 1) * args.rounds + r + 1, c))
    _analyse(conn, [])
    return values


# --- the hand-written baseline ------------------------------------------------------------------------------------
# What a database person would write over the same roll-ups for each view, computing the same statistics: each
# sharing cluster's round of a period (the latest one ending in it), values, changes since the period before,
# inclusive quartiles (percentile_cont) with the quartiles that equal a peer's value withheld, and for the
# facilitator's views the disclosure checks: group sizes per combination of matching attributes, from which
# every group's size and every two groups' distance follow, decided in a few lines of Python.

HAND_ROUNDS = """
WITH picked AS (
    SELECT DISTINCT ON (r.cluster_id, h.period) r.cluster_id, r.id AS round_id, r.label, c.name, h.period
    FROM round r JOIN cluster c ON c.id = r.cluster_id
    CROSS JOIN LATERAL (SELECT coalesce(r.period_end, r.period_start, r.created_at::date) AS day) d
    CROSS JOIN LATERAL (SELECT to_char(d.day, 'YYYY') || '-H' || CASE WHEN extract(month FROM d.day) <= 6
                        THEN '1' ELSE '2' END AS period) h
    WHERE c.shares_benchmarks AND c.template_version_id = %(version)s AND r.status IN ('open', 'closed')
      AND d.day BETWEEN %(first_day)s AND %(last_day)s
    ORDER BY r.cluster_id, h.period, d.day DESC, r.id DESC
), pair AS (
    SELECT cluster_id, min(name) AS name, min(label) FILTER (WHERE period = %(period)s) AS label,
           min(round_id) FILTER (WHERE period = %(period)s) AS round_id,
           min(round_id) FILTER (WHERE period = %(since)s) AS base_id
    FROM picked GROUP BY cluster_id
), cell AS (
    SELECT n.cluster_id, n.name, n.label, v.measure, v.value, v.value - b.value AS change
    FROM pair n JOIN benchmark_value v ON v.round_id = n.round_id AND v.measure = ANY(%(measures)s)
    LEFT JOIN benchmark_value b ON b.round_id = n.base_id AND b.measure = v.measure
)
"""
HAND_CELLS = HAND_ROUNDS + "SELECT cluster_id, name, label, measure, value, change FROM cell"
# The heat map's first page: the first rows by name, with their values and changes (its summary is HAND_SUMMARY).
HAND_PAGE = (
    HAND_ROUNDS
    + """, page AS (
    SELECT * FROM pair WHERE round_id IS NOT NULL ORDER BY name, cluster_id LIMIT %(per_page)s
)
SELECT p.cluster_id, p.name, p.label, v.measure, v.value, v.value - b.value
FROM page p JOIN benchmark_value v ON v.round_id = p.round_id AND v.measure = ANY(%(measures)s)
LEFT JOIN benchmark_value b ON b.round_id = p.base_id AND b.measure = v.measure
ORDER BY p.name, p.cluster_id"""
)
HAND_SUMMARY = (
    HAND_ROUNDS
    + """SELECT measure, count(*), percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY value),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY change) FROM cell GROUP BY measure"""
)

# A facilitator's peers: frozen entries of sharing clusters, with a bit per attribute they share with the viewed
# cluster's entry of the same period (programme 1, sector 2, country 4, region 8, typology 16, stage 32).
HAND_PEERS = """
WITH entry AS (
    SELECT DISTINCT ON (e.cluster_id, e.period) e.*
    FROM benchmark_entry e JOIN cluster c ON c.id = e.cluster_id
    WHERE e.reopened_at IS NULL AND (c.shares_benchmarks OR c.id = %(own)s) AND c.template_version_id = %(version)s
    ORDER BY e.cluster_id, e.period, e.period_end DESC, e.round_id DESC
), own AS (
    SELECT * FROM entry WHERE cluster_id = %(own)s
), peer AS (
    SELECT e.period, e.cluster_id, e.round_id,
           (e.programme_id = o.programme_id)::int
           | ((o.sector <> '' AND e.sector = o.sector)::int << 1)
           | ((o.country <> '' AND e.country = o.country)::int << 2)
           | ((o.region <> '' AND e.region = o.region)::int << 3)
           | ((o.typology <> '' AND e.typology = o.typology)::int << 4)
           | ((o.stage <> '' AND e.stage = o.stage)::int << 5) AS mask
    FROM entry e JOIN own o ON o.period = e.period
    WHERE e.cluster_id <> %(own)s
), asked AS (
    SELECT * FROM unnest(CAST(%(periods)s AS text[]), CAST(%(measures)s AS text[])) AS t(period, measure)
), val AS (
    SELECT p.period, v.measure, p.mask, v.value
    FROM asked a JOIN peer p ON p.period = a.period
    JOIN benchmark_value v ON v.round_id = p.round_id AND v.measure = a.measure
)
"""
HAND_SIZES = (
    HAND_PEERS
    + """SELECT a.period, a.measure, p.mask, count(v.value) FROM asked a JOIN peer p ON p.period = a.period
    LEFT JOIN benchmark_value v ON v.round_id = p.round_id AND v.measure = a.measure GROUP BY 1, 2, 3"""
)
HAND_QUARTILES = (
    HAND_PEERS
    + """, grp AS (SELECT * FROM val WHERE mask & %(dims)s = %(dims)s), q AS (
    SELECT period, measure, count(*) AS n, percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY value) AS q
    FROM grp GROUP BY period, measure
)
SELECT q.period, q.measure, q.n, q.q, bool_or(g.value = q.q[1]), bool_or(g.value = q.q[2]), bool_or(g.value = q.q[3])
FROM q JOIN grp g ON g.period = q.period AND g.measure = q.measure GROUP BY q.period, q.measure, q.n, q.q"""
)
DIMENSION_BITS = {"programme": 1, "sector": 2, "country": 4, "region": 8, "typology": 16, "stage": 32}


def hand_released(sizes: dict[int, int], dims: int, min_group: int) -> bool:
    """May the group of peers sharing the attributes in `dims` be shown, among all 64 groups around the viewed
    cluster? Groups around one cluster nest: the peers sharing S and those sharing T together share S | T, so
    |g(S) ^ g(T)| = |g(S)| + |g(T)| - 2 |g(S | T)|."""

    def size(bits: int) -> int:
        return sum(n for mask, n in sizes.items() if mask & bits == bits)

    own = size(dims)
    if own < min_group:
        return False
    for other in range(64):
        n = size(other)
        apart = own + n - 2 * size(dims | other)
        if n >= min_group and 0 < apart < min_group:
            return False
    return True


def hand_peers(conn: psycopg.Connection[Any], asked: list[tuple[str, str]], **params: Any) -> dict[Any, Any]:
    """The facilitator's views by hand: (period, measure) -> (n, q1, median, q3) as released, or None."""
    periods, measures = [a[0] for a in asked], [a[1] for a in asked]
    sizes: dict[tuple[str, str], dict[int, int]] = {a: {} for a in asked}
    for period, measure, mask, n in conn.execute(HAND_SIZES, {**params, "periods": periods, "measures": measures}):
        sizes[(period, measure)][mask] = n
    ok = [a for a in asked if hand_released(sizes[a], params["dims"], 3)]
    out: dict[Any, Any] = dict.fromkeys(asked)
    rows = conn.execute(HAND_QUARTILES, {**params, "periods": [a[0] for a in ok], "measures": [a[1] for a in ok]})
    for period, measure, n, q, *pinned in rows:
        shown = [None if hit or n < 3 else v for v, hit in zip(q, pinned, strict=True)]
        out[(period, measure)] = (n, *shown)
    return out


def run(args: argparse.Namespace, raw_url: str, url: str) -> None:
    print(f"peak RSS at start: {peak_rss_mb():.0f} MB")
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        scorecard_service.load_directory(session, ROOT / "scorecards")
        session.commit()
        version = scorecard_service.latest_version(session, TEMPLATE)
        spec = scorecard_service.spec_of(version)
        assert version.id is not None

    started = time.perf_counter()
    ids = list(range(1, args.clusters + 1))
    if args.source == "answers":
        with psycopg.connect(raw_url) as conn:
            answers = generate(conn, spec, version.id, args)
        print(f"generated {answers:,} answers and ratings in {time.perf_counter() - started:.1f} s (COPY)")
        started = time.perf_counter()
        for i in range(0, len(ids), 50):
            with Session(engine) as session:
                service.refresh(session, ids[i : i + 50])
                session.commit()
        build = time.perf_counter() - started
        print(f"roll-ups built the app's way in {build:.1f} s ({build * 1000 / len(ids) / args.rounds:.1f} ms/round)")
    else:
        with psycopg.connect(raw_url) as conn:
            values = generate_rollups(conn, spec, version.id, args)
        with Session(engine) as session:
            service.refresh(session, [])
            behind = service._behind(session, ids)  # the roll-ups are current: record the revisions they are of
            session.execute(insert(BenchmarkSource), [{"cluster_id": c, "revision": r} for c, r in behind.items()])
            session.commit()
        print(f"generated {values:,} roll-up values in {time.perf_counter() - started:.1f} s (COPY)")
    print(f"{args.clusters} clusters x {args.rounds} rounds; peak RSS {peak_rss_mb():.0f} MB")

    agency = Principal(user=User(id=0, email="bench@example.org", name="Bench", password_hash="", is_admin=True))
    viewed = 7
    facilitator = Principal(
        user=User(id=1, email="f@example.org", name="Facilitator", password_hash="", is_admin=False),
        grants=[Grant(user_id=1, role="facilitator", cluster_id=viewed)],
    )
    periods = sorted({f"{e.year}-H{1 if e.month <= 6 else 2}" for _s, e in PERIODS[: args.rounds]})
    period, since = periods[-1], periods[-2]
    scores = [m.key for m in service.measures(spec) if m.kind in ("overall", "csf")]
    every = [m.key for m in service.measures(spec)]
    first_day = date(int(since[:4]), 1 if since.endswith("H1") else 7, 1)
    last_day = date(int(period[:4]), 6, 30) if period.endswith("H1") else date(int(period[:4]), 12, 31)
    common = {"version": version.id, "period": period, "since": since, "first_day": first_day, "last_day": last_day}

    def heatmap() -> Any:
        with Session(engine) as session:
            return service.heatmap(session, agency, template_key=TEMPLATE, period=period, filters={})

    def heatmap_sql(conn: psycopg.Connection[Any]) -> Any:
        cells = conn.execute(HAND_PAGE, {**common, "measures": scores, "per_page": service.HEATMAP_PAGE}).fetchall()
        return cells, conn.execute(HAND_SUMMARY, {**common, "measures": scores}).fetchall()

    def distribution() -> Any:
        with Session(engine) as session:
            return service.distribution(
                session, agency, template_key=TEMPLATE, measure="csf:cost-control", period=period, filters={}
            )

    def distribution_sql(conn: psycopg.Connection[Any]) -> Any:
        cells = conn.execute(HAND_CELLS, {**common, "measures": ["csf:cost-control"]}).fetchall()
        return cells, conn.execute(HAND_SUMMARY, {**common, "measures": ["csf:cost-control"]}).fetchall()

    def profile() -> Any:
        with Session(engine) as session:
            c = cluster_service.get_cluster(session, viewed)
            return service.profile(
                session, facilitator, c, dimensions=["country"], period=period, trend_measure="overall", min_group=3
            )

    peer_params = {"own": viewed, "version": version.id, "dims": DIMENSION_BITS["country"]}
    profile_asked = [(period, k) for k in every] + [(p, "overall") for p in periods if p != period]

    def profile_sql(conn: psycopg.Connection[Any]) -> Any:
        return hand_peers(conn, profile_asked, **peer_params)

    def trend() -> Any:
        with Session(engine) as session:
            c = cluster_service.get_cluster(session, viewed)
            return service.trend(
                session, facilitator, c, measure="csf:cost-control", dimensions=["country"], min_group=3
            )

    def trend_sql(conn: psycopg.Connection[Any]) -> Any:
        return hand_peers(conn, [(p, "csf:cost-control") for p in periods], **peer_params)

    with psycopg.connect(raw_url) as conn:
        check_heatmap(heatmap(), heatmap_sql(conn))
        check_distribution(distribution(), distribution_sql(conn))
        check_peers(
            {(period, m.measure.key): m.peers for m in profile().measures}
            | {(t.period, "overall"): t for t in profile().trend if t.period != period},
            profile_sql(conn),
        )
        check_peers({(t.period, "csf:cost-control"): t for t in trend().points}, trend_sql(conn))
        print("app and hand-written SQL give the same figures for every view")
        timings = []
        for label, app_fn, sql_fn in (
            ("agency heat map", heatmap, heatmap_sql),
            ("agency distribution", distribution, distribution_sql),
            ("cluster profile (facilitator)", profile, profile_sql),
            ("trend (facilitator)", trend, trend_sql),
        ):
            app_ms, sql_ms = paired_medians(app_fn, lambda fn=sql_fn: fn(conn), args.runs)  # type: ignore[misc]
            timings.append((label, app_ms, sql_ms))
    print(f"\n{args.clusters} clusters x {args.rounds} rounds, median of {args.runs} runs; load average {load()}")
    print(f"{'view':<32}{'app':>9}{'hand SQL':>11}{'ratio':>8}")
    for label, app_ms, sql_ms in timings:
        print(f"{label:<32}{app_ms:7.0f} ms{sql_ms:8.0f} ms{app_ms / sql_ms:8.2f}")
    print(f"peak RSS at the end: {peak_rss_mb():.0f} MB")
    engine.dispose()


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _close(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, abs_tol=1e-9))


def check_heatmap(app: Any, hand: Any) -> None:
    cells, summary = hand
    by_cell = {(cid, measure): (value, change) for cid, _n, _l, measure, value, change in cells}
    assert [r.cluster_id for r in app.rows] == list(dict.fromkeys(cid for cid, _m in by_cell)), "heat map rows differ"
    for row in app.rows:
        for key, value in row.values.items():
            assert _close(value, by_cell[(row.cluster_id, key)][0]) and _close(
                row.changes[key], by_cell[(row.cluster_id, key)][1]
            ), f"heat map cell {row.cluster_id} {key}"
    for measure, _n, q, median_change in summary:
        assert app.median[measure] == q[1] and _close(app.median_change[measure], median_change), measure


def check_distribution(app: Any, hand: Any) -> None:
    cells, summary = hand
    assert sorted((p.cluster_id, p.value, p.change) for p in app.points) == sorted(
        (cid, value, change) for cid, _n, _l, _m, value, change in cells
    )
    (_measure, n, q, _median_change), *_ = summary
    assert app.stats.n == n and (app.stats.q1, app.stats.median, app.stats.q3) == tuple(q)


def check_peers(app: dict[Any, Any], hand: dict[Any, Any]) -> None:
    assert set(app) == set(hand), "different measures"
    for key, stats in app.items():
        median = getattr(stats, "median", getattr(stats, "peer_median", None)) if stats else None
        got = None if stats is None or stats.q1 is stats.q3 is median is None else (stats.q1, median, stats.q3)
        want = None if hand[key] is None or hand[key][1:] == (None, None, None) else hand[key][1:]
        assert got == want, f"{key}: app {got}, hand-written SQL {want}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--members", type=int, default=25)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--source", choices=["rollups", "answers"], default="rollups")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    name = f"clusterscore_bench_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    raw_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    url = raw_url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        run(args, raw_url, url)
    finally:
        if not args.keep:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept database {name}")


if __name__ == "__main__":
    main()
