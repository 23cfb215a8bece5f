"""A burst of more writers than a worker has threads (40) loses no write and fails no request, on both
databases (app.db.DatabaseTurns: requests wait for the database in the event loop, not in a thread); and
several workers on one SQLite file work too (README, "Deployment"): across processes every request that
changes data takes SQLite's write lock as its transaction begins and waits for it (busy_timeout)."""

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlmodel import Session, select

from app.db import make_engine
from app.responses import form as member_form
from app.responses.models import Answer, Response
from bench.harness import Member, Server, Workshop, free_port, production_env, seed_workshop

SAVES = 6
CSRF = re.compile(r'"X-CSRF-Token": "([^"]+)"')


async def _member(base: str, workshop: Workshop, member: Member, kpi: str, statuses: list[int]) -> None:
    """Opens the personal link and the first step, then autosaves the count question SAVES times, no pause."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        link = await http.get(f"/m/{member.token}")
        assert link.status_code == 303, link.text[:200]
        cookie = next(h for h in link.headers.get_list("set-cookie") if h.startswith("clusterscore_session="))
        http.headers["Cookie"] = cookie.split(";", 1)[0]
        page = await http.get(f"/rounds/{workshop.round_id}/answer/1")
        token = CSRF.search(page.text)
        assert token is not None, page.text[:200]
        http.headers["X-CSRF-Token"] = token.group(1)
        for number in range(1, SAVES + 1):
            saved = await http.post(
                f"/rounds/{workshop.round_id}/autosave",
                data={member_form.ANSWER + kpi: str(number)},
                headers={"HX-Request": "true"},
            )
            statuses.append(saved.status_code)


async def _workshop(base: str, workshop: Workshop, kpi: str, statuses: list[int]) -> None:
    await asyncio.gather(*(_member(base, workshop, m, kpi, statuses) for m in workshop.members))


@pytest.mark.parametrize(("workers", "members"), [(1, 80), (2, 30)])
def test_concurrent_writers_lose_no_write_and_fail_no_request(database_url: str, workers: int, members: int) -> None:
    """80 members saving at once on one worker: twice as many writers as its threads."""
    workshop = seed_workshop(database_url, members=members)
    kpi = next(k for k, v in workshop.answers.items() if type(v) is int)  # a count: the save's number is stored
    port = free_port()
    server = Server("app.main:app", env=production_env(database_url, port), port=port, workers=workers).start()
    statuses: list[int] = []
    try:
        # In a thread of its own: Playwright may keep an event loop running in the main thread.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, _workshop(server.url, workshop, kpi, statuses)).result()
    finally:
        server.stop()
    assert len(statuses) == members * SAVES and set(statuses) == {200}, sorted(set(statuses))
    engine = make_engine(database_url)
    with Session(engine) as session:
        last = session.exec(
            select(Response.participant_id, Answer.value_num)
            .join(Answer, Answer.response_id == Response.id)  # type: ignore[arg-type]
            .where(Response.round_id == workshop.round_id, Answer.kpi_key == kpi)
        ).all()
    engine.dispose()
    assert sorted(last) == sorted((m.participant_id, float(SAVES)) for m in workshop.members)
