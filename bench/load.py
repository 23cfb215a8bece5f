"""Workshop-deadline load test: N members open their form, autosave and submit, all at once.

Runs the app under uvicorn with production settings on a scratch database (SQLite file and/or PostgreSQL
database), then a minimal FastAPI endpoint doing one insert on the same database (bench/minimal_app.py), and
prints throughput, latency percentiles, errors, the ratio between the two, and memory per worker.

    .venv/bin/python -m bench.load --members 100 --db sqlite --db postgres
"""

import argparse
import asyncio
import os
import platform
import statistics
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.harness import Member, Server, Workshop, free_port, production_env, scratch_database, seed_workshop
from bench.minimal_app import metadata as minimal_metadata

TARGET_P95_MS = 150
TARGET_RATIO = 0.5
TARGET_RSS_MB = 200


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_errors: list[str] = field(default_factory=list)

    async def timed(self, kind: str, call: Any) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response: httpx.Response = await call
        except httpx.HTTPError as exc:
            self._error(kind, f"{kind}: {exc.__class__.__name__} {exc}")
            return None
        self.latencies[kind].append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            self._error(kind, f"{kind}: {response.status_code} {response.text[:200]}")
            return None
        return response

    def _error(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(message)

    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return (values[0],) * 3 if values else (float("nan"),) * 3
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def _session_cookie(response: httpx.Response) -> str:
    # Production cookies are Secure; this client speaks plain HTTP to 127.0.0.1, so it carries the cookie itself.
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("clusterscore_session="):
            return header.split(";", 1)[0]
    raise RuntimeError("the member link set no session cookie")


async def _member(base: str, workshop: Workshop, member: Member, autosaves: int, stats: Stats) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        login = await stats.timed("login", http.get(f"/m/{member.token}"))
        if login is None:
            return
        http.headers["Cookie"] = _session_cookie(login)
        if await stats.timed("open form", http.get("/")) is None:
            return
        me = await stats.timed("me", http.get("/api/v1/me"))
        if me is None:
            return
        http.headers["X-CSRF-Token"] = me.json()["csrf_token"]
        started = await stats.timed(
            "start",
            http.post(f"/api/v1/rounds/{workshop.round_id}/responses", json={"participant_id": member.participant_id}),
        )
        if started is None:
            return
        response_id = started.json()["id"]
        keys = list(workshop.answers)
        for number in range(autosaves):
            # What an autosave sends: the few answers changed since the last one, and a rating with its reason.
            chunk = keys[number * 4 % len(keys) : number * 4 % len(keys) + 4]
            body = {
                "answers": [{"kpi_key": key, "value": workshop.answers[key]} for key in chunk],
                "ratings": [
                    {
                        "csf_key": workshop.csf_keys[number % len(workshop.csf_keys)],
                        "rating": 1 + number % 5,
                        "comment": f"Reason {number}: " + "words " * 20,
                    }
                ],
            }
            await stats.timed("autosave", http.put(f"/api/v1/responses/{response_id}", json=body))
        await stats.timed(
            "submit",
            http.post(f"/api/v1/responses/{response_id}/submit", json={"client_id": f"bench-{uuid.uuid4().hex}"}),
        )


async def _minimal_client(base: str, member: int, requests: int, stats: Stats) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for number in range(requests):
            await stats.timed(
                "insert", http.post("/save", json={"member": member, "payload": f"Reason {number}: " + "words " * 20})
            )


async def _run_members(server: Server, workshop: Workshop, autosaves: int) -> tuple[Stats, float]:
    stats = Stats()
    started = time.perf_counter()
    await asyncio.gather(*(_member(server.url, workshop, m, autosaves, stats) for m in workshop.members))
    return stats, time.perf_counter() - started


async def _run_minimal(server: Server, members: int, requests: int) -> tuple[Stats, float]:
    stats = Stats()
    started = time.perf_counter()
    await asyncio.gather(*(_minimal_client(server.url, m, requests, stats) for m in range(members)))
    return stats, time.perf_counter() - started


def _line(label: str, values: list[float], errors: int, seconds: float | None = None) -> str:
    p50, p95, p99 = _percentiles(values)
    rate = f"{len(values) / seconds:8.1f}/s" if seconds else " " * 10
    figures = f"p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms"
    return f"  {label:<11} {len(values):6d} req {rate}  {figures}  errors {errors}"


def bench_database(kind: str, *, members: int, autosaves: int, workers: int) -> dict[str, Any]:
    with scratch_database(kind) as database_url:
        workshop = seed_workshop(database_url, members=members)
        from app.db import make_engine

        engine = make_engine(database_url)
        minimal_metadata.create_all(engine)  # before the workers start, so they do not race to create it
        engine.dispose()

        port = free_port()
        app_server = Server("app.main:app", env=production_env(database_url, port), port=port, workers=workers)
        app_server.start()
        try:
            asyncio.run(_warm_up(app_server))
            stats, seconds = asyncio.run(_run_members(app_server, workshop, autosaves))
            rss = app_server.worker_rss_mb()
        finally:
            app_server.stop()

        minimal = Server(
            "bench.minimal_app:create_app",
            env=production_env(database_url, port),
            port=port,
            workers=workers,
            factory=True,
        )
        minimal.start(timeout=30)
        try:
            per_member = stats.requests() // max(members, 1)
            asyncio.run(_warm_up(minimal, path="/docs"))
            base_stats, base_seconds = asyncio.run(_run_minimal(minimal, members, max(per_member, 1)))
            base_rss = minimal.worker_rss_mb()
        finally:
            minimal.stop()

    app_rate = stats.requests() / seconds
    base_rate = base_stats.requests() / base_seconds
    autosave_p95 = _percentiles(stats.latencies["autosave"])[1]
    errors = sum(stats.errors.values())
    print(f"\n{kind}: {members} members, {autosaves} autosaves each, {workers} worker(s)")
    print(f"  member flow {stats.requests()} requests in {seconds:.1f} s = {app_rate:.1f} req/s")
    for kind_name in ("login", "open form", "me", "start", "autosave", "submit"):
        print(_line(kind_name, stats.latencies[kind_name], stats.errors[kind_name]))
    print(f"  minimal     {base_stats.requests()} inserts in {base_seconds:.1f} s = {base_rate:.1f} req/s")
    print(_line("insert", base_stats.latencies["insert"], sum(base_stats.errors.values())))
    print(f"  ratio       app/minimal throughput {app_rate / base_rate:.2f} (target >= {TARGET_RATIO})")
    print(f"              autosave p95 {autosave_p95:.1f} ms (target < {TARGET_P95_MS} ms); errors {errors} (target 0)")
    print(
        f"  memory      app workers peak RSS {', '.join(f'{mb:.0f} MB' for mb in rss)} (target < {TARGET_RSS_MB} MB); "
        f"minimal {', '.join(f'{mb:.0f} MB' for mb in base_rss)}"
    )
    for message in stats.first_errors + base_stats.first_errors:
        print(f"  error: {message}")
    return {"app_rate": app_rate, "base_rate": base_rate, "autosave_p95": autosave_p95, "errors": errors, "rss": rss}


async def _warm_up(server: Server, path: str = "/api/v1/me") -> None:
    """A few requests first, so imports and the first connections are not in the figures."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        await asyncio.gather(*(http.get(path) for _ in range(server.workers * 4)))


def _machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    load = os.getloadavg()[0]
    python = platform.python_version()
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory / 1024 / 1024:.0f} GiB RAM, Python {python}, load average {load:.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100, help="concurrent members, 10 to 500 (default 100)")
    parser.add_argument("--autosaves", type=int, default=5, help="autosaves per member (default 5)")
    parser.add_argument(
        "--workers", type=int, help="uvicorn workers (default: 1 on SQLite, its one writer; 2 on PostgreSQL)"
    )
    parser.add_argument("--db", action="append", choices=["sqlite", "postgres"], help="repeat for both (default both)")
    args = parser.parse_args()
    if not 10 <= args.members <= 500:
        parser.error("--members must be between 10 and 500")
    print(f"Machine: {_machine()}")
    results = {
        db: bench_database(
            db, members=args.members, autosaves=args.autosaves, workers=args.workers or (1 if db == "sqlite" else 2)
        )
        for db in args.db or ["sqlite", "postgres"]
    }
    failed = [db for db, r in results.items() if r["errors"]]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
