"""Keeps the benchmark roll-ups current in the background, so that reading a benchmark never writes.

Every `benchmark_refresh_seconds` each app process compares every cluster's data revision with its roll-up's
(one statement) and recomputes the clusters that moved, each in a transaction of its own, so that on SQLite
the write lock is held for one cluster at a time, between members' saves. Processes doing it side by side
(several workers or hosts) at worst compute a cluster twice; the later insert loses and is dropped.
"""

import logging

import anyio
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from app.benchmarks import service
from app.db import open_session

log = logging.getLogger("clusterscore")


def refresh_stale(engine: Engine) -> int:
    """One pass: recomputes every roll-up older than its cluster's data; returns how many."""
    with open_session(engine, writes=False) as session:
        stale = service.stale_clusters(session)
    for cluster_id in stale:
        with open_session(engine, writes=True) as session:
            service.refresh(session, [cluster_id])
            session.commit()
    return len(stale)


async def keep_current(engine: Engine, every: float) -> None:
    """Runs for the life of the process (started by the app's lifespan)."""
    while True:
        try:
            await run_in_threadpool(refresh_stale, engine)
        except Exception:  # a failed pass (the database restarting) must not end the refreshing for good
            log.exception("benchmark roll-ups: refresh failed; trying again in %s s", every)
        await anyio.sleep(every)
