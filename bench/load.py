"""Workshop-deadline load test: N members open their form at the same moment, answer it and submit.

Each member does what the phone does (templates/responses, static/member.js): open the personal link, the
home page and the first step, then post every field on its own as it is changed (htmx autosave with the
device's change id and time), open each next step, the review, submit and read the thank-you page.

Two phases per database, each against the app and then against a minimal FastAPI endpoint doing one insert
on the same database (bench/minimal_app.py) with the same number of clients and requests:

- workshop pace: people read a question before they answer it, so each member pauses between changes
  (--think seconds on average, 0.5x to 1.5x at random). Latency is judged here: at 100 members and 5 s,
  the app receives about 20 autosaves a second, all members starting within the same second.
- capacity: no pause at all, every client fires its next request as soon as the last one is answered.
  Throughput is judged here, as the ratio between the member flow and the bare insert (median of 3 runs:
  on a shared machine one run can be 20 % off).

    .venv/bin/python -m bench.load --members 100 --db sqlite --db postgres
    .venv/bin/python -m bench.load --against main     # the same runs for another commit first, then this checkout

Workers, as deployed (README, "Deployment"): one on SQLite, one per CPU on PostgreSQL (--workers sets both).
"""

import argparse
import asyncio
import os
import platform
import random
import re
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.config import ROOT
from bench.harness import (
    Member,
    Server,
    Workshop,
    checkout,
    free_port,
    production_env,
    scratch_database,
    seed_workshop,
)
from bench.minimal_app import create_table as create_minimal_table

TARGET_P95_MS = 150
TARGET_RATIO = 0.5
TARGET_RSS_MB = 200
APP, MINIMAL_APP = "app.main:app", "bench.minimal_app:create_app"
KINDS = ("login", "home", "step page", "autosave", "review", "submit", "thanks")
CSRF = re.compile(r'"X-CSRF-Token": "([^"]+)"')

Pause = Callable[[], Awaitable[None]]
# uvicorn closes a connection idle for 5 s; a client reusing it at that moment gets a ReadError (seen at
# workshop pace). Browsers retry such a request; this client lets idle connections go a second earlier.
CLIENT_LIMITS = httpx.Limits(keepalive_expiry=4.0)


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # CPU seconds used during the phase by the processes serving it and by this load generator.
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    async def timed(self, kind: str, call: Awaitable[httpx.Response], expect: int = 200) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await call
        except httpx.HTTPError as exc:
            self._error(kind, f"{kind}: {exc.__class__.__name__} {exc}")
            return None
        self.latencies[kind].append((time.perf_counter() - started) * 1000)
        if response.status_code != expect or 'class="error"' in response.text:
            self._error(kind, f"{kind}: {response.status_code} {response.text[:200]}")
            return None
        return response

    def _error(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(message)

    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def all_errors(self) -> int:
        return sum(self.errors.values())

    def rate(self) -> float:
        return self.requests() / self.seconds

    def server_ms_per_request(self) -> float:
        return self.server_cpu * 1000 / self.requests()

    def busy(self) -> tuple[float, float]:
        """Share of one core used by the server's processes and by this client while the phase ran."""
        return self.server_cpu / self.seconds, self.client_cpu / self.seconds


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return (values[0],) * 3 if values else (float("nan"),) * 3
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def _pause(think: float, rng: random.Random) -> Pause:
    async def pause() -> None:
        if think:
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))

    return pause


def _session_cookie(response: httpx.Response) -> str:
    # Production cookies are Secure; this client speaks plain HTTP to 127.0.0.1, so it carries the cookie itself.
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("clusterscore_session="):
            return header.split(";", 1)[0]
    raise RuntimeError("the member link set no session cookie")


async def _member(base: str, workshop: Workshop, member: Member, changes: int, pause: Pause, stats: Stats) -> None:
    form = f"/rounds/{workshop.round_id}"
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=CLIENT_LIMITS) as http:
        login = await stats.timed("login", http.get(f"/m/{member.token}"), expect=303)
        if login is None:
            return
        http.headers["Cookie"] = _session_cookie(login)
        if await stats.timed("home", http.get("/")) is None:
            return
        plan = [(n, name, value) for n, fields in enumerate(workshop.form_steps, 1) for name, value in fields]
        step = 0
        for number in range(changes):
            # More changes than questions: the member goes back and corrects from the start.
            at_step, name, value = plan[number % len(plan)]
            if at_step != step:
                page = await stats.timed("step page", http.get(f"{form}/answer/{at_step}"))
                if page is None:
                    return
                token = CSRF.search(page.text)
                assert token is not None, "the step page carries no CSRF token"
                http.headers["X-CSRF-Token"] = token.group(1)
                step = at_step
            await pause()
            posted = {name: value, "client_id": uuid.uuid4().hex, "client_at": str(int(time.time() * 1000))}
            await stats.timed("autosave", http.post(f"{form}/autosave", data=posted, headers={"HX-Request": "true"}))
        await pause()
        if await stats.timed("review", http.get(f"{form}/review")) is None:
            return
        await pause()
        await stats.timed("submit", http.post(f"{form}/submit", data={}), expect=303)
        await stats.timed("thanks", http.get(f"{form}/thanks"))


async def _minimal_client(base: str, member: int, requests: int, pause: Pause, stats: Stats) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=CLIENT_LIMITS) as http:
        for number in range(requests):
            await pause()
            body = {"member": member, "payload": f"Reason {number}: " + "words " * 20}
            await stats.timed("insert", http.post("/save", json=body))


async def _run(server: Server, clients: Sequence[Awaitable[None]], stats: Stats) -> Stats:
    started, server_cpu, client_cpu = time.perf_counter(), server.cpu_seconds(), time.process_time()
    await asyncio.gather(*clients)
    stats.seconds = time.perf_counter() - started
    stats.server_cpu = server.cpu_seconds() - server_cpu
    stats.client_cpu = time.process_time() - client_cpu
    return stats


def _member_phase(server: Server, workshop: Workshop, changes: int, think: float) -> Stats:
    stats, rng = Stats(), random.Random(2026)
    clients = [_member(server.url, workshop, m, changes, _pause(think, rng), stats) for m in workshop.members]
    return asyncio.run(_run(server, clients, stats))


def _minimal_phase(server: Server, members: int, requests: int, think: float) -> Stats:
    stats, rng = Stats(), random.Random(2026)
    clients = [_minimal_client(server.url, m, requests, _pause(think, rng), stats) for m in range(members)]
    return asyncio.run(_run(server, clients, stats))


def _line(label: str, values: list[float], errors: int) -> str:
    p50, p95, p99 = _percentiles(values)
    figures = f"p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms"
    return f"    {label:<10} {len(values):6d} req  {figures}  errors {errors}"


@contextmanager
def serving(app_path: str, env: dict[str, str], port: int, workers: int, *, cwd: Path = ROOT) -> Iterator[Server]:
    """The app (or the minimal endpoint) under uvicorn, warmed up; `cwd`: the checkout whose code it serves."""
    server = Server(app_path, env=env, port=port, workers=workers, factory=app_path == MINIMAL_APP, cwd=cwd).start()
    try:
        asyncio.run(_warm_up(server, path="/docs" if app_path == MINIMAL_APP else "/api/v1/me"))
        yield server
    finally:
        server.stop()


def _busy(runs: list[Stats]) -> str:
    server, client = (_median([s.busy()[n] for s in runs]) for n in (0, 1))
    return f"workers {server:.0%} and client {client:.0%}"


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bench_database(
    kind: str, *, members: int, changes: int, think: float, workers: int, capacity_runs: int, app_root: Path = ROOT
) -> dict[str, Any]:
    """Both phases on one scratch database. Each capacity run has a workshop of its own, so every member starts
    from an empty form; app and minimal endpoint take turns, so a slow minute of a shared machine hits both.
    `app_root`: the checkout whose app is measured (the minimal endpoint is always this checkout's)."""
    with scratch_database(kind) as database_url:
        paced_workshop = seed_workshop(database_url, members=members)
        capacity_workshops = [
            seed_workshop(database_url, members=members, name=f"Capacity{n}") for n in range(capacity_runs)
        ]
        create_minimal_table(database_url)
        port = free_port()
        env = production_env(database_url, port)

        with serving(APP, env, port, workers, cwd=app_root) as app_server:
            paced = _member_phase(app_server, paced_workshop, changes, think)
            rss = app_server.worker_rss_mb()
        per_member = max(paced.requests() // members, 1)
        with serving(MINIMAL_APP, env, port, workers) as minimal:
            # A member pauses before each change, the review and the submit: spread as many pauses over as
            # many requests, so both phases last about as long and the offered rate is the same.
            base_paced = _minimal_phase(minimal, members, per_member, think * (changes + 2) / per_member)
            base_rss = minimal.worker_rss_mb()
        capacity: list[Stats] = []
        base_capacity: list[Stats] = []
        for workshop in capacity_workshops:
            with serving(APP, env, port, workers, cwd=app_root) as app_server:
                capacity.append(_member_phase(app_server, workshop, changes, 0))
                rss = [max(a, b) for a, b in zip(rss, app_server.worker_rss_mb(), strict=True)]
            with serving(MINIMAL_APP, env, port, workers) as minimal:
                base_capacity.append(_minimal_phase(minimal, members, per_member, 0))

    autosave_p95 = _percentiles(paced.latencies["autosave"])[1]
    base_p95 = _percentiles(base_paced.latencies["insert"])[1]
    app_rates, base_rates = [s.rate() for s in capacity], [s.rate() for s in base_capacity]
    ratio = _median(app_rates) / _median(base_rates)
    app_runs = [paced, *capacity]
    errors = sum(s.all_errors() for s in app_runs)
    code = "this checkout" if app_root == ROOT else f"the checkout in {app_root}"
    print(f"\n{kind}: {members} members, {changes} changes each, {workers} worker(s), the app of {code}")
    print(f"  workshop pace: a change every {think * 0.5:g} to {think * 1.5:g} s per member, all starting at once")
    print(f"    member flow {paced.requests()} requests in {paced.seconds:.1f} s = {paced.rate():.1f} req/s")
    for kind_name in KINDS:
        print(_line(kind_name, paced.latencies[kind_name], paced.errors[kind_name]))
    print(f"    minimal    {base_paced.requests()} inserts at the same pace in {base_paced.seconds:.1f} s")
    print(_line("insert", base_paced.latencies["insert"], base_paced.all_errors()))
    print(f"  capacity: no pause between requests, {members} clients, {capacity_runs} runs each")
    rates = ", ".join(f"{rate:.1f}" for rate in app_rates)
    print(f"    member flow {capacity[0].requests()} requests a run: {rates} req/s, median {_median(app_rates):.1f}")
    autosaves = [ms for s in capacity for ms in s.latencies["autosave"]]
    print(_line("autosave", autosaves, sum(s.errors["autosave"] for s in capacity)))
    rates = ", ".join(f"{rate:.1f}" for rate in base_rates)
    print(
        f"    minimal    {base_capacity[0].requests()} inserts a run: {rates} req/s, median {_median(base_rates):.1f}"
    )
    inserts = [ms for s in base_capacity for ms in s.latencies["insert"]]
    print(_line("insert", inserts, sum(s.all_errors() for s in base_capacity)))
    # What bounds each rate: a server process near 100 % of a core is the limit, or this client is.
    app_ms = _median([s.server_ms_per_request() for s in capacity])
    base_ms = _median([s.server_ms_per_request() for s in base_capacity])
    app_busy, base_busy = _busy(capacity), _busy(base_capacity)
    print(
        f"    server CPU per request: app {app_ms:.1f} ms, minimal {base_ms:.1f} ms ({app_ms / base_ms:.1f}x); "
        f"share of one core busy: app {app_busy}, minimal {base_busy}"
    )
    print("  against the targets")
    print(
        f"    autosave p95 at workshop pace {autosave_p95:.1f} ms (target < {TARGET_P95_MS} ms); "
        f"minimal insert p95 {base_p95:.1f} ms, ratio {autosave_p95 / base_p95:.1f}"
    )
    runs = ", ".join(f"{a / b:.2f}" for a, b in zip(app_rates, base_rates, strict=True))
    print(f"    throughput app/minimal at capacity {ratio:.2f} (target >= {TARGET_RATIO}); run by run {runs}")
    print(f"    errors {errors} of {sum(s.requests() for s in app_runs)} requests (target 0)")
    print(
        f"    memory: app workers peak RSS {', '.join(f'{mb:.0f} MB' for mb in rss)} (target < {TARGET_RSS_MB} MB); "
        f"minimal {', '.join(f'{mb:.0f} MB' for mb in base_rss)}"
    )
    for stats in [*app_runs, base_paced, *base_capacity]:
        for message in stats.first_errors:
            print(f"  error: {message}")
    return {"autosave_p95": autosave_p95, "ratio": ratio, "errors": errors, "rss": rss}


async def _warm_up(server: Server, path: str) -> None:
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
    parser.add_argument("--changes", type=int, default=12, help="fields each member changes (default 12)")
    parser.add_argument(
        "--think", type=float, default=5.0, help="mean seconds between a member's changes at workshop pace (default 5)"
    )
    parser.add_argument("--capacity-runs", type=int, default=3, help="capacity runs, median taken (default 3)")
    parser.add_argument("--workers", type=int, help="uvicorn workers (default: 1 on SQLite, one per CPU on PostgreSQL)")
    parser.add_argument("--db", action="append", choices=["sqlite", "postgres"], help="repeat for both (default both)")
    parser.add_argument("--against", metavar="REF", help="run the same for this git commit first (before/after)")
    args = parser.parse_args()
    if not 10 <= args.members <= 500:
        parser.error("--members must be between 10 and 500")
    print(f"Machine: {_machine()}")
    results = {}
    for db in args.db or ["sqlite", "postgres"]:
        workers = args.workers or (1 if db == "sqlite" else os.cpu_count() or 1)

        def run(app_root: Path, db: str = db, workers: int = workers) -> dict[str, Any]:
            return bench_database(
                db,
                members=args.members,
                changes=args.changes,
                think=args.think,
                workers=workers,
                capacity_runs=max(args.capacity_runs, 1),
                app_root=app_root,
            )

        if args.against:
            with checkout(args.against) as other:
                before = run(other)
            results[db] = after = run(ROOT)
            print(f"\n{db}: {args.against} -> this checkout")
            for key in ("autosave_p95", "ratio", "errors"):
                print(f"    {key:<14} {before[key]:10.2f} -> {after[key]:10.2f}")
        else:
            results[db] = run(ROOT)
    return 1 if any(r["errors"] for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
