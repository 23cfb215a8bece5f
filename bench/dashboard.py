"""How fast the reflection session screen renders, and what a live poll costs when nothing changed.

A Thai food cluster with 200 participants and 8 rounds, every participant answering every round
(member KPIs, CSF ratings with comments), on a migrated SQLite file; requests go through the whole
app in process (middleware, authorisation, queries, scoring of all 8 rounds, charts, template).

Prints the median of each measurement and two ratios against the full render measured in the same
process: the 304 poll (target: almost nothing) and the refreshed fragment. Target: median full
render under 150 ms on the project's machine.

    .venv/bin/python bench/dashboard.py [--participants 200] [--rounds 8] [--repeat 30]
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import migrate
from app.audit.models import AuditEvent
from app.clusters import service as cluster_service
from app.config import ROOT, Settings
from app.dashboard import charts
from app.dashboard import service as dashboard_service
from app.main import create_app
from app.responses.models import Answer, CsfRating, Response
from app.rounds import service as round_service
from app.rounds.schemas import RoundCreate, RoundStatus
from app.timeutil import utcnow
from tests import factories

TARGET_MS = 150.0
COMMENTS = ("Banks still ask for collateral.", "Better since the joint fair.", "", "", "We never meet.", "")


def build(session: Session, participants: int, rounds: int) -> tuple[int, int, str]:
    """The cluster and its history, written in bulk (the benchmark measures reading, not answering)."""
    rng = random.Random(2026)
    cluster = factories.cluster(session)
    members = [factories.participant(session, cluster, organisation=f"Firm {i:03d}") for i in range(participants)]
    from app.clusters import service as cluster_service

    scorecard = cluster_service.scorecard(session, cluster)
    member_kpis = [k for k in scorecard.kpis() if k.level == "member" and k.active]
    cluster_kpis = [k for k in scorecard.kpis() if k.level == "cluster" and k.active]
    csfs = [c.key for p in scorecard.perspectives for c in p.csfs]
    last = None
    for number in range(rounds):
        round_ = round_service.create_round(session, cluster, RoundCreate(label=f"Round {number + 1}"))
        round_service.set_status(session, round_, RoundStatus.open, actor="bench")
        now = utcnow()
        for member in members:
            response = Response(
                round_id=round_.id or 0, participant_id=member.id or 0, status="submitted", submitted_at=now
            )
            session.add(response)
            session.flush()
            for kpi in member_kpis:
                if kpi.type == "yes_no":
                    value: float | None = float(rng.random() < 0.3 + number * 0.05)
                elif kpi.type == "percent":
                    value = float(rng.randint(0, 100))
                elif kpi.type == "rating":
                    value = float(rng.randint(1, 5))
                elif kpi.type == "text":
                    value = None
                else:
                    value = float(rng.randint(0, 40))
                text = "A remark." if kpi.type == "text" else None
                session.add(Answer(response_id=response.id or 0, kpi_key=kpi.key, value_num=value, value_text=text))
            for csf in csfs:
                session.add(
                    CsfRating(
                        response_id=response.id or 0,
                        csf_key=csf,
                        rating=min(5, max(1, round(rng.gauss(2.5 + number * 0.2, 1.1)))),
                        comment=rng.choice(COMMENTS),
                    )
                )
        for kpi in cluster_kpis:
            from app.rounds.schemas import KpiValueSet

            high = {"percent": 100, "yes_no": 1}.get(kpi.type, 50)  # a yes/no fact is 1 or 0
            value = float(rng.randint(0, high))
            round_service.set_kpi_value(session, round_, kpi.key, KpiValueSet(value=value, note="bench"), actor="b")
        if number < rounds - 1:
            round_service.set_status(session, round_, RoundStatus.closed, actor="bench")
        last = round_
        session.commit()
    facilitator = factories.user(session, grants=(("facilitator", cluster),))
    token = factories.api_token(session, facilitator)
    session.commit()
    assert last is not None and last.id is not None
    return cluster.id or 0, last.id, token


def timed(call: object, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)
        app = create_app(Settings(environment="test", database_url=url, scorecards_dir=ROOT / "scorecards"))
        with TestClient(app) as client:
            started = time.perf_counter()
            with Session(app.state.engine, expire_on_commit=False) as session:
                cluster_id, round_id, token = build(session, args.participants, args.rounds)
            print(
                f"built {args.participants} participants x {args.rounds} rounds"
                f" in {time.perf_counter() - started:.1f} s"
            )
            client.headers["Authorization"] = f"Bearer {token}"
            page_url, live_url = f"/rounds/{round_id}/session", f"/rounds/{round_id}/session/live"

            page = client.get(page_url)
            assert page.status_code == 200, page.text[:500]
            etag = client.get(live_url, headers={"HX-Request": "true"}).headers["ETag"]
            assert client.get(live_url, headers={"If-None-Match": etag}).status_code == 304

            def full() -> None:
                assert client.get(page_url).status_code == 200

            def cold() -> None:
                """No memoised scorecards, round scores or charts: the first screen after a process starts."""
                cluster_service.built_scorecards.clear()
                dashboard_service.round_results.clear()
                charts._radar.cache_clear()
                charts._trend.cache_clear()
                full()

            def poll() -> None:
                assert client.get(live_url, headers={"HX-Request": "true", "If-None-Match": etag}).status_code == 304

            answered = {"n": 0}

            def new_answer_then_poll() -> None:
                """A member corrects an answer in the current round; the next poll re-renders the fragment."""
                with Session(app.state.engine) as session:
                    response = session.exec(select(Response).where(Response.round_id == round_id)).first()
                    assert response is not None
                    answered["n"] += 1
                    response.updated_at = utcnow()
                    session.add(response)
                    session.add(
                        AuditEvent(
                            actor="bench",
                            action="answer_corrected",
                            entity="response",
                            entity_id=response.id,
                            cluster_id=cluster_id,
                        )
                    )
                    session.commit()
                started = time.perf_counter()
                got = client.get(live_url, headers={"HX-Request": "true", "If-None-Match": etag})
                samples.append((time.perf_counter() - started) * 1000)
                assert got.status_code == 200

            for warm in (full, poll):
                timed(warm, 3)
            cold_ms = statistics.median(timed(cold, max(5, args.repeat // 3)))
            full_ms = statistics.median(timed(full, args.repeat))
            samples: list[float] = []
            for _ in range(args.repeat):
                new_answer_then_poll()
            changed_ms = statistics.median(samples)
            etag = client.get(live_url, headers={"HX-Request": "true"}).headers["ETag"]
            poll_ms = statistics.median(timed(poll, args.repeat * 3))

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load} (other work on the machine inflates every figure)")
    print(f"page size: {len(page.content) / 1024:.0f} KiB (before gzip)")
    verdict = "met" if full_ms < TARGET_MS else "NOT met"
    print(f"session screen, full page:          median {full_ms:7.1f} ms  (target < {TARGET_MS:.0f} ms: {verdict})")
    print(f"  the same, cold (no memo, e.g. right after a restart): median {cold_ms:7.1f} ms")
    print(
        f"live poll after a member's change:  median {changed_ms:7.1f} ms"
        f"  ratio to full page {changed_ms / full_ms:.2f}"
    )
    print(f"live poll, nothing new (304):       median {poll_ms:7.1f} ms  ratio to full page {poll_ms / full_ms:.3f}")


if __name__ == "__main__":
    main()
