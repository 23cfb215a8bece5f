"""What each kind of member request costs the server, in CPU time, beside the minimal endpoint's insert.

The load benchmark (bench/load.py) says how many requests a second the app serves; this says where that
CPU goes. Members go through the same flow as in the load benchmark (personal link, home, steps, autosaves,
review, submit, thank-you page), one request at a time, and the CPU time of the uvicorn process is read
before and after each request. Summed over many requests this is the server's CPU per request of each
kind, free of the load generator and of queueing. Two references run in the same process: the minimal
endpoint (one insert, bench/minimal_app.py) and GET /api/v1/me with an API token (the framework, the
token check and one read: the least an authenticated request costs here).

    .venv/bin/python -m bench.request_cost --members 40 --db sqlite --db postgres
"""

import argparse
import asyncio
import random
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass, field

import httpx

from bench.harness import Server, Workshop, free_port, production_env, scratch_database, seed_workshop
from bench.load import APP, KINDS, MINIMAL_APP, Stats, _member, _minimal_client, _pause
from bench.minimal_app import metadata as minimal_metadata

WARM_UP = 3  # members whose requests are not counted: first imports, templates, connections


@dataclass
class CostStats(Stats):
    """Stats that also charge the server's CPU time to the kind of request: exact only when requests are
    sent one at a time, as here."""

    server: Server | None = None
    cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    async def timed(self, kind: str, call: Awaitable[httpx.Response], expect: int = 200) -> httpx.Response | None:
        assert self.server is not None
        before = self.server.cpu_seconds()
        response = await super().timed(kind, call, expect)
        self.cpu[kind] += self.server.cpu_seconds() - before
        return response

    def ms_per_request(self, kind: str) -> float:
        return self.cpu[kind] * 1000 / max(len(self.latencies[kind]), 1)


async def _members(server: Server, workshop: Workshop, changes: int) -> CostStats:
    no_pause = _pause(0, random.Random())
    for member in workshop.members[:WARM_UP]:
        await _member(server.url, workshop, member, changes, no_pause, CostStats(server=server))
    stats = CostStats(server=server)
    for member in workshop.members[WARM_UP:]:
        await _member(server.url, workshop, member, changes, no_pause, stats)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        headers = {"Authorization": f"Bearer {workshop.admin_token}"}
        for _ in range(len(workshop.members) * 5):
            await stats.timed("api me", http.get("/api/v1/me", headers=headers))
    return stats


async def _minimal(server: Server, requests: int) -> CostStats:
    stats = CostStats(server=server)
    no_pause = _pause(0, random.Random())
    await _minimal_client(server.url, 0, 20, no_pause, CostStats(server=server))
    await _minimal_client(server.url, 0, requests, no_pause, stats)
    return stats


def bench_database(kind: str, *, members: int, changes: int) -> None:
    with scratch_database(kind) as database_url:
        from app.db import make_engine

        workshop = seed_workshop(database_url, members=members + WARM_UP)
        engine = make_engine(database_url)
        minimal_metadata.create_all(engine)
        engine.dispose()
        port = free_port()
        env = production_env(database_url, port)
        app = Server(APP, env=env, port=port).start()
        try:
            stats = asyncio.run(_members(app, workshop, changes))
        finally:
            app.stop()
        minimal = Server(MINIMAL_APP, env=env, port=port, factory=True).start()
        try:
            base = asyncio.run(_minimal(minimal, stats.requests()))
        finally:
            minimal.stop()
    insert_ms = base.ms_per_request("insert")
    flow = [k for k in KINDS if stats.latencies[k]]
    flow_cpu = sum(stats.cpu[k] for k in flow)
    flow_requests = sum(len(stats.latencies[k]) for k in flow)
    print(f"\n{kind}: {members} members one after the other, {changes} changes each, 1 worker")
    print(f"    {'request':<10} {'count':>6} {'server CPU':>13} {'x insert':>9} {'share of a member':>18}")
    for name in flow:
        share = stats.cpu[name] / flow_cpu if flow_cpu else 0.0
        ms = stats.ms_per_request(name)
        print(f"    {name:<10} {len(stats.latencies[name]):6d} {ms:10.2f} ms {ms / insert_ms:8.1f}x {share:17.0%}")
    average = flow_cpu * 1000 / max(flow_requests, 1)
    print(f"    {'member avg':<10} {flow_requests:6d} {average:10.2f} ms {average / insert_ms:8.1f}x")
    me = stats.ms_per_request("api me")
    print(f"    {'api me':<10} {len(stats.latencies['api me']):6d} {me:10.2f} ms {me / insert_ms:8.1f}x")
    print(f"    {'insert':<10} {len(base.latencies['insert']):6d} {insert_ms:10.2f} ms {1:8.1f}x   (minimal endpoint)")
    errors = stats.all_errors() + base.all_errors()
    for message in [*stats.first_errors, *base.first_errors]:
        print(f"  error: {message}")
    if errors:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=40, help="members counted (default 40)")
    parser.add_argument("--changes", type=int, default=12, help="fields each member changes (default 12)")
    parser.add_argument("--db", action="append", choices=["sqlite", "postgres"], help="repeat for both (default both)")
    args = parser.parse_args()
    for kind in args.db or ["sqlite", "postgres"]:
        bench_database(kind, members=args.members, changes=args.changes)


if __name__ == "__main__":
    main()
