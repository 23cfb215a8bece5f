"""What each kind of member request costs the server, in CPU time, beside the minimal endpoint's insert.

The load benchmark (bench/load.py) says how many requests a second the app serves; this says where that
CPU goes. Members go through the same flow as in the load benchmark (personal link, home, steps, autosaves,
review, submit, thank-you page), one request at a time, and the CPU time of the uvicorn process is read
before and after each request. Summed over many requests this is the server's CPU per request of each
kind, free of the load generator and of queueing. Two references run in the same process: the minimal
endpoint (one insert, bench/minimal_app.py) and GET /api/v1/me with an API token (the framework, the
token check and a read: the least an authenticated request costs here).

--against REF compares this checkout with another commit instead: both apps run side by side, each on a
database of its own, and members take turns between them, so that both see the same minutes of a shared,
noisy machine (runs a few minutes apart differ by 20 % or more here, more than most changes gain).

    .venv/bin/python -m bench.request_cost --members 40 --db sqlite --db postgres
    .venv/bin/python -m bench.request_cost --against main~3 --members 60
"""

import argparse
import asyncio
import random
from collections import defaultdict
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.config import ROOT
from bench.harness import Server, Workshop, checkout, free_port, production_env, scratch_database, seed_workshop
from bench.load import APP, KINDS, MINIMAL_APP, Stats, _member, _minimal_client, _pause, serving
from bench.minimal_app import create_table as create_minimal_table

WARM_UP = 3  # members whose requests are not counted: first imports, templates, connections
NO_PAUSE = _pause(0, random.Random())


@dataclass
class CostStats(Stats):
    """Stats that also charge the server's CPU time to the kind of request: exact only when requests are
    sent one at a time, as here. CPU time is counted in clock ticks (10 ms), so it takes hundreds of
    requests of a kind to give its cost to a tenth of a millisecond."""

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

    def flow_ms(self) -> float:
        """Server CPU per request over the member flow."""
        kinds = [k for k in KINDS if self.latencies[k]]
        return sum(self.cpu[k] for k in kinds) * 1000 / max(sum(len(self.latencies[k]) for k in kinds), 1)


async def _members(apps: list[tuple[Server, Workshop]], changes: int) -> list[CostStats]:
    """Member by member, taking turns between the apps (and who goes first), each on its own workshop."""
    stats = [CostStats(server=server) for server, _ in apps]
    for number in range(len(apps[0][1].members)):
        order = list(range(len(apps)))
        for index in order if number % 2 else reversed(order):
            server, workshop = apps[index]
            counted = stats[index] if number >= WARM_UP else CostStats(server=server)
            await _member(server.url, workshop, workshop.members[number], changes, NO_PAUSE, counted)
    return stats


async def _api_me(server: Server, workshop: Workshop, stats: CostStats, requests: int) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        headers = {"Authorization": f"Bearer {workshop.admin_token}"}
        for _ in range(requests):
            await stats.timed("api me", http.get("/api/v1/me", headers=headers))


async def _minimal(server: Server, requests: int) -> CostStats:
    await _minimal_client(server.url, 0, 20, NO_PAUSE, CostStats(server=server))
    stats = CostStats(server=server)
    await _minimal_client(server.url, 0, requests, NO_PAUSE, stats)
    return stats


@contextmanager
def _serving(database_url: str, root: Path = ROOT, app: str = APP) -> Iterator[Server]:
    port = free_port()
    with serving(app, production_env(database_url, port), port, workers=1, cwd=root) as server:
        yield server


def _check(*stats: CostStats) -> None:
    for found in stats:
        for message in found.first_errors:
            print(f"  error: {message}")
    if any(found.all_errors() for found in stats):
        raise SystemExit(1)


def cost(kind: str, *, members: int, changes: int) -> None:
    with scratch_database(kind) as database_url:
        workshop = seed_workshop(database_url, members=members + WARM_UP)
        create_minimal_table(database_url)
        with _serving(database_url) as server:
            [stats] = asyncio.run(_members([(server, workshop)], changes))
            asyncio.run(_api_me(server, workshop, stats, requests=5 * members))
        with _serving(database_url, app=MINIMAL_APP) as minimal:
            base = asyncio.run(_minimal(minimal, stats.requests()))
    _check(stats, base)
    insert_ms = base.ms_per_request("insert")
    print(f"\n{kind}: {members} members one after the other, {changes} changes each, 1 worker")
    print(f"    {'request':<10} {'count':>6} {'server CPU':>13} {'x insert':>9}")
    for name in [k for k in KINDS if stats.latencies[k]]:
        ms = stats.ms_per_request(name)
        print(f"    {name:<10} {len(stats.latencies[name]):6d} {ms:10.2f} ms {ms / insert_ms:8.1f}x")
    flow = stats.requests() - len(stats.latencies["api me"])
    print(f"    {'member avg':<10} {flow:6d} {stats.flow_ms():10.2f} ms {stats.flow_ms() / insert_ms:8.1f}x")
    for name, found in (("api me", stats), ("insert", base)):
        ms = found.ms_per_request(name)
        print(f"    {name:<10} {len(found.latencies[name]):6d} {ms:10.2f} ms {ms / insert_ms:8.1f}x")


def compare(kind: str, ref: str, *, members: int, changes: int) -> None:
    with checkout(ref) as other, scratch_database(kind) as theirs, scratch_database(kind) as ours:
        workshops = [seed_workshop(url, members=members + WARM_UP) for url in (theirs, ours)]
        with _serving(theirs, root=other) as base, _serving(ours) as this:
            before, after = asyncio.run(_members([(base, workshops[0]), (this, workshops[1])], changes))
    _check(before, after)
    print(f"\n{kind}: {members} members one after the other, taking turns between {ref} and this checkout")
    print(f"    {'request':<10} {'count':>6} {ref[:12]:>12} {'this':>12} {'this/' + ref[:8]:>14}")
    rows = [(k, before.ms_per_request(k), after.ms_per_request(k)) for k in KINDS if after.latencies[k]]
    for name, then, now in [*rows, ("member avg", before.flow_ms(), after.flow_ms())]:
        count = after.requests() if name == "member avg" else len(after.latencies[name])
        print(f"    {name:<10} {count:6d} {then:9.2f} ms {now:9.2f} ms {now / then:14.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=40, help="members counted (default 40)")
    parser.add_argument("--changes", type=int, default=12, help="fields each member changes (default 12)")
    parser.add_argument("--against", metavar="REF", help="compare with this git commit, side by side")
    parser.add_argument("--db", action="append", choices=["sqlite", "postgres"], help="repeat for both (default both)")
    args = parser.parse_args()
    for kind in args.db or ["sqlite", "postgres"]:
        if args.against:
            compare(kind, args.against, members=args.members, changes=args.changes)
        else:
            cost(kind, members=args.members, changes=args.changes)


if __name__ == "__main__":
    main()
