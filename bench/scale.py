"""Benchmarking at programme scale: `make bench-scale`.

Builds a scratch PostgreSQL database with a synthetic programme - by default 1,000 clusters x 4 rounds
x 25 members x the Thai template's 19 member questions and 11 CSF ratings, about 3 million answers -
bulk-loaded with COPY, then:

1. builds the benchmark roll-ups once (what the app does lazily, cluster by cluster, as data arrives);
2. times the agency heat map and one cluster's peer comparison through the service functions the
   routes call (median of several runs, each in a fresh session), beside the equivalent hand-written
   SQL aggregate over the raw answers run directly on the database, and prints the ratio;
3. prints the peak resident memory after each phase (resource.getrusage), to show the raw answers
   never sit in Python memory: 3 million answers as Python tuples would take several hundred MB.

Options: --clusters, --rounds, --members, --runs, --keep (leave the database for inspection).
PostgreSQL from BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

import argparse
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
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.auth.models import Grant, User
from app.auth.principal import Principal
from app.benchmarks import service
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


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def generate(conn: psycopg.Connection[Any], spec: Any, version_id: int, args: argparse.Namespace) -> int:
    """Stream every row into COPY as it is made: nothing is collected in Python first."""
    rng = random.Random(2026)
    now = datetime.now(UTC)
    member_kpis = [k for _, _, k in spec.iter_kpis() if k.level == "member" and k.type != "text"]
    cluster_kpis = [k for _, _, k in spec.iter_kpis() if k.level == "cluster"]
    csf_keys = [c.key for p in spec.perspectives for c in p.csfs]
    answers = 0
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO programme (id, name, agency, description, created_at) VALUES (1, %s, %s, '', %s)",
            ("Synthetic programme", "Bench agency", now),
        )
        health = [rng.uniform(0.2, 0.8) for _ in range(args.clusters)]
        with cur.copy(
            "COPY cluster (id, programme_id, name, sector, country, region, typology, stage, template_version_id,"
            " shares_benchmarks, shows_members_results, created_at) FROM STDIN"
        ) as copy:
            for c in range(1, args.clusters + 1):
                country = COUNTRIES[c % len(COUNTRIES)]
                copy.write_row(
                    (
                        c,
                        1,
                        f"Cluster {c:04d}",
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
                )
        with cur.copy(
            "COPY cluster_kpi (cluster_id, key, csf_key, is_custom, active, baseline, target, weight, per_member,"
            " created_at) FROM STDIN"
        ) as copy:
            for c in range(1, args.clusters + 1):
                for _p, csf, kpi in spec.iter_kpis():
                    baseline, target = kpi.baseline, kpi.target
                    if baseline is None or target is None:
                        baseline, target = _default_goal(kpi.type, kpi.per_member, args.members, kpi.direction)
                    copy.write_row((c, kpi.key, csf.key, False, True, baseline, target, kpi.weight, False, now))
        with cur.copy(
            "COPY participant (id, cluster_id, organisation, organisation_type, person_name, active, created_at)"
            " FROM STDIN"
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
                        copy.write_row(((c - 1) * args.rounds + r + 1, kpi.key, float(rng.randrange(0, 20)), "", now))
        # One audit event per submission, as the app writes: the roll-up staleness check reads them.
        with cur.copy("COPY audit_event (at, actor, action, entity, entity_id, cluster_id) FROM STDIN") as copy:
            for c in range(1, args.clusters + 1):
                for r in range(args.rounds):
                    round_id = (c - 1) * args.rounds + r + 1
                    for m in range(args.members):
                        copy.write_row(
                            (now, "bench", "response_submitted", "response", (round_id - 1) * args.members + m + 1, c)
                        )
        for table in ("programme", "cluster", "participant", "round", "response"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE")
    conn.autocommit = False
    return answers


def _members(args: argparse.Namespace, health: list[float], rng: random.Random) -> Iterator[tuple[int, float]]:
    for c in range(1, args.clusters + 1):
        for r in range(args.rounds):
            round_id = (c - 1) * args.rounds + r + 1
            for m in range(args.members):
                level = min(0.95, max(0.05, health[c - 1] + 0.05 * r + rng.gauss(0, 0.12)))
                yield (round_id - 1) * args.members + m + 1, level


# The hand-written aggregates a database person would write straight over the raw answers: members'
# mean rating per cluster and CSF for the latest period (the perception half of a CSF score), and the
# quartiles of the clusters' mean rating with one cluster's rank among them.
HEATMAP_SQL = """
SELECT r.cluster_id, cr.csf_key, avg(cr.rating)
FROM csf_rating cr JOIN response s ON s.id = cr.response_id JOIN round r ON r.id = s.round_id
JOIN cluster c ON c.id = r.cluster_id
WHERE c.shares_benchmarks AND r.status <> 'draft' AND s.status = 'submitted' AND r.period_end = %(end)s
GROUP BY r.cluster_id, cr.csf_key
"""
PEERS_SQL = """
WITH per_cluster AS (
  SELECT r.cluster_id, avg(cr.rating) AS v
  FROM csf_rating cr JOIN response s ON s.id = cr.response_id JOIN round r ON r.id = s.round_id
  JOIN cluster c ON c.id = r.cluster_id
  WHERE c.shares_benchmarks AND r.status = 'closed' AND s.status = 'submitted' AND r.period_end = %(end)s
    AND c.country = %(country)s
  GROUP BY r.cluster_id
)
SELECT percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY v),
       (SELECT count(*) FROM per_cluster p WHERE p.v < (SELECT v FROM per_cluster WHERE cluster_id = %(id)s))
FROM per_cluster WHERE cluster_id <> %(id)s
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--members", type=int, default=25)
    parser.add_argument("--runs", type=int, default=7)
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
    with psycopg.connect(raw_url) as conn:
        answers = generate(conn, spec, version.id, args)
    print(
        f"generated {args.clusters} clusters x {args.rounds} rounds x {args.members} members: "
        f"{answers:,} answers and ratings in {time.perf_counter() - started:.1f} s (COPY); "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )

    # Roll-ups, built the way the app builds them: cluster by cluster, one round's answers at a time.
    started = time.perf_counter()
    ids = list(range(1, args.clusters + 1))
    for i in range(0, len(ids), 50):
        with Session(engine) as session:
            service.refresh(session, ids[i : i + 50])
            session.commit()
    build = time.perf_counter() - started
    print(
        f"roll-ups built for {args.clusters * args.rounds} rounds in {build:.1f} s "
        f"({build * 1000 / (args.clusters * args.rounds):.1f} ms per round, the cost a changed round adds to "
        f"the next benchmark view); peak RSS {peak_rss_mb():.0f} MB"
    )

    agency = Principal(user=User(id=0, email="bench@example.org", name="Bench", password_hash="", is_admin=True))
    viewed = 7
    facilitator = Principal(
        user=User(id=1, email="f@example.org", name="Facilitator", password_hash="", is_admin=False),
        grants=[Grant(user_id=1, role="facilitator", cluster_id=viewed)],
    )
    with Session(engine) as session:
        cluster = cluster_service.get_cluster(session, viewed)
        country = cluster.country

    def heatmap() -> None:
        with Session(engine) as session:
            data = service.heatmap(session, agency, template_key=TEMPLATE, period=None, filters={})
            assert len(data.rows) > 0.8 * args.clusters

    def peers() -> None:
        with Session(engine) as session:
            c = cluster_service.get_cluster(session, viewed)
            data = service.profile(
                session, facilitator, c, dimensions=["country"], period=None, trend_measure="overall", min_group=3
            )
            assert data.measures

    heatmap()  # warm-up: imports, template parsing cache, connection pool
    peers()
    end = PERIODS[(args.rounds - 1) % len(PERIODS)][1]
    with psycopg.connect(raw_url) as conn:
        sql_heatmap = median_ms(lambda: conn.execute(HEATMAP_SQL, {"end": end}).fetchall(), args.runs)
        sql_peers = median_ms(
            lambda: conn.execute(PEERS_SQL, {"end": end, "country": country, "id": viewed}).fetchall(), args.runs
        )
    svc_heatmap = median_ms(heatmap, args.runs)
    svc_peers = median_ms(peers, args.runs)
    print(f"\nmedian of {args.runs} runs             service   hand-written SQL on raw answers   ratio")
    for label, svc, sql in (("agency heat map", svc_heatmap, sql_heatmap), ("peer comparison", svc_peers, sql_peers)):
        print(f"{label:<26}{svc:7.0f} ms   {sql:7.0f} ms{'':24}{svc / sql:5.2f}")
    target = 500
    verdict = "meets" if max(svc_heatmap, svc_peers) < target else "MISSES"
    print(f"target < {target} ms median: {verdict}")
    print(f"peak RSS at the end: {peak_rss_mb():.0f} MB")
    engine.dispose()


if __name__ == "__main__":
    main()
