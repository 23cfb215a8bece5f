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


# (period, measure) -> the fingerprints of the groups shown for it -> the audiences each was shown to
History = Mapping[tuple[str, str], Mapping[str, set[str]]]


def _released(session: Session, audiences: Iterable[str], candidates: Sequence[Candidate]) -> History:
    """The groups shown to these audiences for the candidates' periods and measures (a view of one measure need not
    read the groups of the forty others shown before)."""
    statement = (
        sa_select(
            col(BenchmarkRelease.audience),
            col(BenchmarkRelease.period),
            col(BenchmarkRelease.measure),
            col(BenchmarkReleaseGroup.fingerprint),
        )
        .join(BenchmarkReleaseGroup, col(BenchmarkReleaseGroup.id) == col(BenchmarkRelease.group_id))
        .where(
            col(BenchmarkRelease.audience).in_(sorted(audiences)),
            col(BenchmarkRelease.period).in_(sorted({c.period for c in candidates})),
            col(BenchmarkRelease.measure).in_(sorted({c.measure for c in candidates})),
        )
    )
    out: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(dict)
    for audience, period, measure, fingerprint in session.connection().execute(statement):
        out[(period, measure)].setdefault(fingerprint, set()).add(audience)
    return out


def _members(session: Session, fingerprints: Iterable[str]) -> dict[str, Mapping[int, logic.Contribution]]:
    """The peers of groups shown before, with the entry each contributed."""
    wanted = sorted(set(fingerprints))
    if not wanted:
        return {}
    statement = sa_select(col(BenchmarkReleaseGroup.fingerprint), col(BenchmarkReleaseGroup.members)).where(
        col(BenchmarkReleaseGroup.fingerprint).in_(wanted)
    )
    return {
        fingerprint: {cid: (rid, rev) for cid, rid, rev in json.loads(members)}
        for fingerprint, members in session.connection().execute(statement)
    }


def _refused(session: Session, candidates: Sequence[Candidate], released: History, min_group: int) -> set[int]:
    """The candidates whose group differs from one shown before by fewer than min_group peers. The same group again
    shows nothing new, so the peers of groups shown before are read only when a candidate's group is new."""
    before = {i: released.get((c.period, c.measure), {}) for i, c in enumerate(candidates)}
    new = [(i, c) for i, c in enumerate(candidates) if c.group.fingerprint not in before[i]]
    members = _members(session, (fingerprint for i, _c in new for fingerprint in before[i]))
    return {
        i for i, c in new if not logic.safe_after(c.group.contributions, (members[f] for f in before[i]), min_group)
    }


def _new_to(audience: str, candidates: Sequence[Candidate], released: History) -> list[Candidate]:
    def shown_to_audience(c: Candidate) -> bool:
        return audience in released.get((c.period, c.measure), {}).get(c.group.fingerprint, set())

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
    refused = _refused(session, candidates, released, min_group)
    fresh = [c for i, c in enumerate(candidates) if i not in refused]
    # Only what this audience has not been shown yet is written (and checked again under the lock).
    if not _new_to(audience, fresh, released):
        return refused
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    with open_session(engine, writes=True) as own:
        _lock(own, audiences)
        released = _released(own, audiences, candidates)
        late = _refused(own, candidates, released, min_group) - refused
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
