"""OpenRosa submissions as ODK Collect sends them: how many a second, how fast, and what each one costs.

A cluster with two open rounds and enough members; staff devices (enumerators) running Collect, each
logged in with HTTP Basic (the staff member's email and an API token), download the two forms first,
then send filled instances one after the other: a multipart POST with the XML as xml_submission_file and
the OpenRosa headers, rounds alternating, each instance for a member not sent yet (a fresh response), and
every REPEAT_EVERY-th an exact repeat of the client's previous one (Collect retrying after a lost reply),
which must be answered 201 as a duplicate and create nothing. All clients send without pause (capacity).

Printed: submissions a second, p50/p95/p99 latency, errors, and the CPU time per submission of the server
processes and of the database's backends (PostgreSQL; SQLite runs inside the server), so that runs on
either database compare with another server measured the same way.

    .venv/bin/python -m bench.openrosa --db sqlite --db postgres
    .venv/bin/python -m bench.openrosa --db postgres --workers 2 --clients 10 --per-round 500

Workers, as deployed (README, "Deployment"): one uvicorn process on SQLite, one gunicorn worker per CPU on
PostgreSQL (--workers sets both; several always run under gunicorn, bench/harness.py).
"""

import argparse
import asyncio
import base64
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import httpx
import psycopg
from sqlalchemy.engine import make_url
from sqlmodel import Session, func, select

from app.clusters.models import Cluster
from app.db import make_engine
from app.interop.models import OdkSubmission
from app.rounds import service as round_service
from app.rounds.models import Round
from app.rounds.schemas import RoundCreate, RoundStatus
from bench.harness import (
    POSTGRES_ADMIN_URL,
    Server,
    Workshop,
    free_port,
    production_env,
    scratch_database,
    seed_workshop,
)
from bench.load import APP, CLIENT_LIMITS, Stats, _machine, _percentiles, _run, serving

REPEAT_EVERY = 10  # every 10th submission of a client repeats its previous one, byte for byte
WARM_UP = 20  # members whose submissions are sent before timing: imports, caches, connections
XF = "{http://www.w3.org/2002/xforms}"
FORMS = "{http://openrosa.org/xforms/xformsList}"
OPENROSA = {"X-OpenRosa-Version": "1.0"}
DUPLICATE = "already received"


@dataclass(frozen=True)
class Sent:
    body: bytes
    content_type: str
    repeat: bool


@dataclass
class Setup:
    workshop: Workshop
    cluster_id: int
    round_ids: list[int]
    auth: dict[str, str]


def seed_cluster(database_url: str, members: int) -> Setup:
    """The harness's workshop (members, one open round, an admin with an API token) and a second open round."""
    workshop = seed_workshop(database_url, members=members)
    engine = make_engine(database_url)
    with Session(engine, expire_on_commit=False) as session:
        first = session.get(Round, workshop.round_id)
        assert first is not None
        cluster = session.get(Cluster, first.cluster_id)
        assert cluster is not None and cluster.id is not None
        second = round_service.create_round(session, cluster, RoundCreate(label="Second workshop"))
        round_service.set_status(session, second, RoundStatus.open, actor="bench")
        session.commit()
    engine.dispose()
    assert second.id is not None
    credentials = base64.b64encode(f"bench@example.org:{workshop.admin_token}".encode()).decode()
    return Setup(workshop, cluster.id, [workshop.round_id, second.id], {"Authorization": f"Basic {credentials}"})


def _values(workshop: Workshop) -> dict[str, str]:
    """Every answer of the form by field name (app/interop/logic.py names them), as Collect writes them."""
    values = {"k_" + key.replace("-", "_"): "yes" if v is True else str(v) for key, v in workshop.answers.items()}
    for number, key in enumerate(workshop.csf_keys):
        values["r_" + key.replace("-", "_")] = str(1 + number % 5)
        if number % 2 == 0:
            values["c_" + key.replace("-", "_")] = "Because the training centre " + "helps us " * 12
    return values


def instance(form: ElementTree.Element, values: dict[str, str]) -> bytes:
    """The form's primary instance with the answers filled in, as Collect saves it."""
    model = next(form.iter(f"{XF}model"))
    root = ElementTree.fromstring(ElementTree.tostring(next(iter(next(model.iter(f"{XF}instance"))))))
    for element in root.iter():
        name = element.tag.rsplit("}", 1)[-1]
        if name in values:
            element.text = values[name]
    return ElementTree.tostring(root, encoding="utf-8")


def multipart(xml: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="xml_submission_file"; filename="submission.xml"\r\n'
    body = (head + "Content-Type: text/xml\r\n\r\n").encode() + xml + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


async def _forms(server: Server, setup: Setup) -> list[ElementTree.Element]:
    """formList, then each round's form, as a device does once before filling them in."""
    device = f"{server.url}/openrosa/clusters/{setup.cluster_id}"
    async with httpx.AsyncClient(headers={**OPENROSA, **setup.auth}, timeout=60) as http:
        listing = (await http.get(f"{device}/formList")).raise_for_status()
        urls = [e.text or "" for e in ElementTree.fromstring(listing.content).iter(f"{FORMS}downloadUrl")]
        forms = [ElementTree.fromstring((await http.get(url)).raise_for_status().content) for url in urls]
    by_round = {int(url.rsplit("/", 1)[1]): form for url, form in zip(urls, forms, strict=True)}
    return [by_round[round_id] for round_id in setup.round_ids]


def plan(setup: Setup, forms: list[ElementTree.Element], members: Sequence[int], clients: int) -> list[list[Sent]]:
    """What each client sends, in order: rounds alternating, each member once per round, and repeats."""
    answers = _values(setup.workshop)
    fresh = [(forms[n % len(forms)], members[n // len(forms)]) for n in range(len(members) * len(forms))]
    queues: list[list[Sent]] = [[] for _ in range(clients)]
    for number, (form, member) in enumerate(fresh):
        queue = queues[number % clients]
        end = datetime.now(UTC).isoformat(timespec="milliseconds")
        values = {**answers, "participant_id": str(member), "end": end, "instanceID": f"uuid:{uuid.uuid4()}"}
        queue.append(Sent(*multipart(instance(form, values)), repeat=False))
        if len(queue) % REPEAT_EVERY == REPEAT_EVERY - 1:
            queue.append(Sent(queue[-1].body, queue[-1].content_type, repeat=True))
    return queues


async def _client(server: Server, setup: Setup, queue: list[Sent], stats: Stats) -> None:
    url = f"{server.url}/openrosa/clusters/{setup.cluster_id}/submission"
    headers = {**OPENROSA, **setup.auth}
    async with httpx.AsyncClient(timeout=60, limits=CLIENT_LIMITS, headers=headers) as http:
        for sent in queue:
            call = http.post(url, content=sent.body, headers={"Content-Type": sent.content_type})
            reply = await stats.timed("submission", call, expect=201)
            if reply is not None and (DUPLICATE in reply.text) != sent.repeat:
                stats._error("submission", f"repeat={sent.repeat} answered {reply.text[:200]}")


def _send(server: Server, setup: Setup, queues: list[list[Sent]]) -> Stats:
    stats = Stats()
    return asyncio.run(_run(server, [_client(server, setup, queue, stats) for queue in queues], stats))


def _backend_cpu(database_url: str) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend connected to this database (none for SQLite).
    The app's pooled connections live as long as the server, so a backend's CPU is not lost by its exit."""
    if not database_url.startswith("postgresql"):
        return {}
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        name = make_url(database_url).database
        pids = [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))]
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def _stored(database_url: str) -> int:
    engine = make_engine(database_url)
    with Session(engine) as session:
        count = session.exec(select(func.count()).select_from(OdkSubmission)).one()
    engine.dispose()
    return count


def bench_database(kind: str, *, clients: int, per_round: int, workers: int) -> int:
    with scratch_database(kind) as database_url:
        setup = seed_cluster(database_url, members=per_round + WARM_UP)
        port = free_port()
        with serving(APP, production_env(database_url, port), port, workers) as server:
            forms = asyncio.run(_forms(server, setup))
            members = [m.participant_id for m in setup.workshop.members]
            warm_up = plan(setup, forms, members[per_round:], clients)
            queues = plan(setup, forms, members[:per_round], clients)
            _send(server, setup, warm_up)
            before, workers_before = _backend_cpu(database_url), server.cpu_seconds_each()
            stats = _send(server, setup, queues)
            after, workers_after = _backend_cpu(database_url), server.cpu_seconds_each()
        stored = _stored(database_url) - WARM_UP * len(forms)
    backends = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
    sent = stats.requests()
    repeats = sum(sent.repeat for queue in queues for sent in queue)
    fresh = sent - repeats
    errors = stats.all_errors() + abs(stored - per_round * len(forms))
    p50, p95, p99 = _percentiles(stats.latencies["submission"])
    server_ms, backend_ms = stats.server_cpu * 1000 / sent, backends * 1000 / sent
    print(f"\n{kind}: {sent} submissions ({fresh} new, {repeats} repeats), {clients} clients, {workers} worker(s)")
    latency = f"p50 {p50:.1f} ms  p95 {p95:.1f} ms  p99 {p99:.1f} ms"
    print(f"    {stats.rate():.1f} submissions/s in {stats.seconds:.1f} s; {latency}")
    print(
        f"    CPU per submission {server_ms + backend_ms:.1f} ms: server {server_ms:.1f} ms, database backends "
        f"{backend_ms:.1f} ms; cores busy: server {stats.server_cpu / stats.seconds:.0%}, backends "
        f"{backends / stats.seconds:.0%}, this client {stats.client_cpu / stats.seconds:.0%}"
    )
    spread = [cpu - workers_before.get(pid, 0.0) for pid, cpu in workers_after.items()]
    print(
        "    server CPU by process: " + ", ".join(f"{cpu / stats.seconds:.0%}" for cpu in sorted(spread, reverse=True))
    )
    print(f"    stored {stored} submissions (expected {per_round * len(forms)}); errors {errors}")
    for message in stats.first_errors:
        print(f"  error: {message}")
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=10, help="devices sending at once (default 10)")
    parser.add_argument("--per-round", type=int, default=500, help="new submissions per round (default 500)")
    parser.add_argument("--workers", type=int, help="server workers (default: 1 on SQLite, one per CPU on PostgreSQL)")
    parser.add_argument("--db", action="append", choices=["sqlite", "postgres"], help="repeat for both (default both)")
    args = parser.parse_args()
    print(f"Machine: {_machine()}")
    errors = 0
    for db in args.db or ["sqlite", "postgres"]:
        workers = args.workers or (1 if db == "sqlite" else os.cpu_count() or 1)
        errors += bench_database(db, clients=args.clients, per_round=args.per_round, workers=workers)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
