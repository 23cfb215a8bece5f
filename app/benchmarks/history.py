"""The release history: which peer groups' aggregates were shown to whom, for which period and measure.

What a viewer was shown before decides what they may be shown next (docs/disclosure.md, rule 5): a group is
released only when it is the same as, or differs by at least min_group clusters from, every group released
before for the same period and measure to any audience the viewer can act as. Reading a comparison is a GET,
so the history is written in a short transaction of its own, as failed logins are: the request's own
transaction only reads. The check is made again inside that transaction, serialised per audience, so two
requests of one viewer at the same moment cannot both pass with groups one cluster apart.
"""

import hashlib
import json
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col

from app.benchmarks import logic
from app.benchmarks.models import BenchmarkRelease, BenchmarkReleaseGroup
from app.db import open_session
from app.timeutil import utcnow


@dataclass(frozen=True)
class Group:
    """The peers behind an aggregate, with the entry each contributes. Its text and fingerprint are computed once:
    one group of thousands of peers often stands behind every measure of a comparison."""

    contributions: Mapping[int, logic.Contribution]

    @cached_property
    def members_text(self) -> str:
        return json.dumps(sorted([cid, *entry] for cid, entry in self.contributions.items()), separators=(",", ":"))

    @cached_property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.members_text.encode()).hexdigest()


@dataclass(frozen=True)
class Candidate:
    """An aggregate about to be shown: its period, measure and group."""

    period: str
    measure: str
    group: Group


@dataclass
class _Shown:
    group: Mapping[int, logic.Contribution]
    audiences: set[str]


History = Mapping[tuple[str, str], Mapping[str, _Shown]]


def _released(session: Session, audiences: Iterable[str], candidates: Sequence[Candidate]) -> History:
    """(period, measure) -> fingerprint -> the group and the audiences it was shown to, for the candidates' periods
    and measures (a view of one measure need not read the groups of the forty others shown before)."""
    statement = (
        sa_select(
            col(BenchmarkRelease.audience),
            col(BenchmarkRelease.period),
            col(BenchmarkRelease.measure),
            col(BenchmarkReleaseGroup.fingerprint),
            col(BenchmarkReleaseGroup.members),
        )
        .join(BenchmarkReleaseGroup, col(BenchmarkReleaseGroup.id) == col(BenchmarkRelease.group_id))
        .where(
            col(BenchmarkRelease.audience).in_(sorted(audiences)),
            col(BenchmarkRelease.period).in_(sorted({c.period for c in candidates})),
            col(BenchmarkRelease.measure).in_(sorted({c.measure for c in candidates})),
        )
    )
    parsed: dict[str, Mapping[int, logic.Contribution]] = {}
    out: dict[tuple[str, str], dict[str, _Shown]] = defaultdict(dict)
    for audience, period, measure, fingerprint, members in session.connection().execute(statement):
        if fingerprint not in parsed:
            parsed[fingerprint] = {cid: (rid, rev) for cid, rid, rev in json.loads(members)}
        out[(period, measure)].setdefault(fingerprint, _Shown(parsed[fingerprint], set())).audiences.add(audience)
    return out


def _refused(candidates: Sequence[Candidate], released: History, min_group: int) -> set[int]:
    refused = set()
    for i, c in enumerate(candidates):
        before = released.get((c.period, c.measure), {})
        if c.group.fingerprint in before:
            continue  # the same group again: nothing new
        if not logic.safe_after(c.group.contributions, (shown.group for shown in before.values()), min_group):
            refused.add(i)
    return refused


def _new_to(audience: str, candidates: Sequence[Candidate], released: History) -> list[Candidate]:
    def shown_to_audience(c: Candidate) -> bool:
        shown = released.get((c.period, c.measure), {}).get(c.group.fingerprint)
        return shown is not None and audience in shown.audiences

    return [c for c in candidates if not shown_to_audience(c)]


def release(
    session: Session, *, audience: str, audiences: frozenset[str], candidates: Sequence[Candidate], min_group: int
) -> set[int]:
    """Decides which candidates may be shown and records them; returns the indices of those refused.

    Usually everything asked for was shown before and nothing is written. `audiences` includes `audience`.
    """
    if not candidates:
        return set()
    released = _released(session, audiences, candidates)
    refused = _refused(candidates, released, min_group)
    fresh = [c for i, c in enumerate(candidates) if i not in refused]
    # Only what this audience has not been shown yet is written (and checked again under the lock).
    if not _new_to(audience, fresh, released):
        return refused
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    with open_session(engine, writes=True) as own:
        _lock(own, audiences)
        released = _released(own, audiences, candidates)
        late = _refused(candidates, released, min_group) - refused
        fresh = [c for i, c in enumerate(candidates) if i not in refused | late]
        _record(own, audience, _new_to(audience, fresh, released))
        own.commit()
    return refused | late


def _lock(session: Session, audiences: Iterable[str]) -> None:
    """PostgreSQL: one advisory lock per audience, taken in a fixed order (no deadlock), held to the commit.
    SQLite has one writer at a time, and this transaction began as the writer (open_session(writes=True))."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for audience in sorted(audiences):
        session.connection().execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(f"benchmark-release:{audience}".encode())}
        )


def _record(session: Session, audience: str, candidates: Sequence[Candidate]) -> None:
    if not candidates:
        return
    texts = {c.group.fingerprint: c.group.members_text for c in candidates}
    # A group is shared by every audience shown it; another audience's request may be adding it right now.
    groups = [{"fingerprint": f, "members": t} for f, t in texts.items()]
    session.connection().execute(insert_new(session, BenchmarkReleaseGroup, ["fingerprint"]), groups)
    known = dict(
        session.connection()
        .execute(
            sa_select(col(BenchmarkReleaseGroup.fingerprint), col(BenchmarkReleaseGroup.id)).where(
                col(BenchmarkReleaseGroup.fingerprint).in_(list(texts))
            )
        )
        .all()
    )
    now = utcnow()
    rows = {
        (c.period, c.measure, known[c.group.fingerprint]): {
            "audience": audience,
            "period": c.period,
            "measure": c.measure,
            "group_id": known[c.group.fingerprint],
            "released_at": now,
        }
        for c in candidates
    }
    session.connection().execute(insert(BenchmarkRelease), list(rows.values()))


def insert_new(session: Session, table: type[SQLModel], keys: list[str]) -> Any:
    """INSERT that skips rows whose unique `keys` exist already (both databases spell it ON CONFLICT DO NOTHING)."""
    dialect = session.get_bind().dialect.name
    statement = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return statement.on_conflict_do_nothing(index_elements=keys)
