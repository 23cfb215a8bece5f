"""Kill the server (SIGKILL) in the middle of a workshop, restart it, and find every acknowledged write.

Members autosave numbered values and submit with a client-generated id; every request that got a success
response is an acknowledged write. Clients retry what failed, as the member page does, with the same ids.
After the restart: each acknowledged autosave is there (or a later one of the same member), each acknowledged
submission is there, and at the end every response, answer and submission exists exactly once.
"""

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, text
from sqlmodel import Session, select

from app.audit.models import AuditEvent
from app.db import make_engine
from app.responses.models import Answer, Response
from bench.harness import Member, Server, Workshop, free_port, production_env, seed_workshop

MEMBERS = 16
AUTOSAVES = 4
KILL_AFTER_ACKS = 30  # acknowledged requests before the crash: well inside the run


@dataclass
class Ledger:
    """What the server acknowledged, per participant."""

    response_id: dict[int, int] = field(default_factory=dict)
    autosaved: dict[int, int] = field(default_factory=dict)  # highest acknowledged autosave number
    submitted: dict[int, str] = field(default_factory=dict)  # client id of the acknowledged submission
    acks: int = 0
    retries: int = 0


async def _until_acknowledged(call: Any, ledger: Ledger) -> httpx.Response:
    """Send until the server answers; a dropped connection means: not acknowledged, try again."""
    while True:
        try:
            answer: httpx.Response = await call()
        except httpx.TransportError:
            ledger.retries += 1
            await asyncio.sleep(0.05)
            continue
        assert answer.status_code < 300, answer.text
        ledger.acks += 1
        return answer


async def _member(base: str, workshop: Workshop, member: Member, ledger: Ledger) -> None:
    kpi = workshop.extra["kpi"]
    # Longer than SQLite's busy_timeout (30 s): only a dropped connection is retried. A request that merely waited
    # past a shorter timeout on a loaded machine may still commit after its retry and later saves (an API client
    # without change ids gets the last commit; the member page sends ordered change ids).
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        http.headers["Authorization"] = f"Bearer {workshop.admin_token}"
        started = await _until_acknowledged(
            lambda: http.post(
                f"/api/v1/rounds/{workshop.round_id}/responses", json={"participant_id": member.participant_id}
            ),
            ledger,
        )
        response_id = started.json()["id"]
        ledger.response_id[member.participant_id] = response_id
        for number in range(1, AUTOSAVES + 1):
            body = {
                "answers": [{"kpi_key": kpi, "value": number}],
                "ratings": [{"csf_key": workshop.csf_keys[0], "rating": 1 + number % 5, "comment": f"save {number}"}],
            }
            await _until_acknowledged(lambda body=body: http.put(f"/api/v1/responses/{response_id}", json=body), ledger)
            ledger.autosaved[member.participant_id] = number
        client_id = f"submit-{uuid.uuid4().hex}"
        await _until_acknowledged(
            lambda: http.post(f"/api/v1/responses/{response_id}/submit", json={"client_id": client_id}), ledger
        )
        ledger.submitted[member.participant_id] = client_id


def _check_acknowledged(database_url: str, workshop: Workshop, ledger: Ledger) -> None:
    """Everything acknowledged so far is in the database."""
    kpi = workshop.extra["kpi"]
    engine = make_engine(database_url)
    with Session(engine) as session:
        for participant_id, response_id in dict(ledger.response_id).items():
            response = session.get(Response, response_id)
            assert response is not None and response.participant_id == participant_id
            if participant_id in ledger.autosaved:
                answer = session.exec(
                    select(Answer).where(Answer.response_id == response_id, Answer.kpi_key == kpi)
                ).one()
                # Acknowledged number n, or a later save that committed just before the crash (never lost, never older).
                assert answer.value_num is not None and answer.value_num >= ledger.autosaved[participant_id]
            if participant_id in ledger.submitted:
                assert response.status == "submitted" and response.client_id == ledger.submitted[participant_id]
    engine.dispose()


async def _workshop_with_a_crash(server: Server, database_url: str, workshop: Workshop, ledger: Ledger) -> None:
    tasks = [asyncio.create_task(_member(server.url, workshop, m, ledger)) for m in workshop.members]
    while ledger.acks < KILL_AFTER_ACKS:
        await asyncio.sleep(0.005)
    server.kill()
    acknowledged_before_crash = ledger.acks
    await asyncio.to_thread(_check_acknowledged, database_url, workshop, ledger)
    await asyncio.to_thread(server.start)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    assert acknowledged_before_crash < MEMBERS * (AUTOSAVES + 2), "the crash came after the run, not during it"


def test_every_acknowledged_write_survives_a_sigkill_exactly_once(database_url: str) -> None:
    started = time.monotonic()
    workshop = seed_workshop(database_url, members=MEMBERS)
    # A count question: its answer is the autosave's number, so the database shows which save it holds.
    workshop.extra["kpi"] = next(k for k, v in workshop.answers.items() if type(v) is int and v == 3)
    port = free_port()
    # Two workers, as production runs on two cores: on SQLite they take turns on its write lock, which the kill
    # must not leave held (the restarted workers would wait for it forever).
    server = Server("app.main:app", env=production_env(database_url, port), port=port, workers=2).start()
    ledger = Ledger()
    try:
        # In a thread of its own: when browser tests ran earlier in this worker, Playwright's sync API
        # keeps an event loop running in the main thread, where asyncio.run() refuses to start.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, _workshop_with_a_crash(server, database_url, workshop, ledger)).result()
    finally:
        server.stop()
    assert ledger.retries > 0, "the crash interrupted nothing; the test proved nothing"

    _check_acknowledged(database_url, workshop, ledger)
    engine = make_engine(database_url)
    with Session(engine) as session:
        responses = session.exec(select(Response).where(Response.round_id == workshop.round_id)).all()
        assert len(responses) == MEMBERS and {r.participant_id for r in responses} == set(ledger.submitted)
        assert all(r.status == "submitted" for r in responses)
        ids = [r.id for r in responses]
        per_kpi = session.exec(
            select(Answer.response_id, Answer.kpi_key, func.count())
            .where(Answer.response_id.in_(ids))
            .group_by(Answer.response_id, Answer.kpi_key)  # type: ignore[attr-defined]
        ).all()
        assert per_kpi and all(count == 1 for _, _, count in per_kpi)
        assert all(
            session.exec(
                select(Answer.value_num).where(Answer.response_id == r.id, Answer.kpi_key == workshop.extra["kpi"])
            ).one()
            == AUTOSAVES
            for r in responses
        )
        submissions = session.exec(
            select(AuditEvent.entity_id, func.count())
            .where(AuditEvent.action == "response_submitted")
            .group_by(AuditEvent.entity_id)
        ).all()
        assert sorted(entity for entity, _ in submissions) == sorted(ids)
        assert all(count == 1 for _, count in submissions), "a retried submission was recorded twice"
        if database_url.startswith("sqlite"):
            with engine.connect() as conn:
                assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
    assert time.monotonic() - started < 60
