"""A worker admits `requests_per_worker` requests at a time (app.db.RequestLimit); the rest wait their turn."""

from concurrent.futures import ThreadPoolExecutor

import anyio
from starlette.types import Message, Receive, Scope, Send

from app.db import RequestLimit


def test_no_more_requests_than_the_limit_run_at_once_and_every_one_is_served() -> None:
    running, most, served = 0, 0, 0

    async def app(_scope: Scope, _receive: Receive, _send: Send) -> None:
        nonlocal running, most, served
        running += 1
        most = max(most, running)
        await anyio.sleep(0.01)
        running -= 1
        served += 1

    limited = RequestLimit(app, limit=3)

    async def nothing() -> Message:
        return {"type": "http.request"}

    async def ignore(_message: Message) -> None:
        return None

    async def burst() -> None:
        async with anyio.create_task_group() as requests:
            for _ in range(20):
                requests.start_soon(limited, {"type": "http", "path": "/rounds/1/autosave"}, nothing, ignore)

    # In a thread of its own: after a browser test in this process, Playwright keeps an event loop running in
    # the main thread, where anyio.run() refuses to start.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, burst).result()
    assert (most, served) == (3, 20)
