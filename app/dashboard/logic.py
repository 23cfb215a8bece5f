"""Pure computations behind the facilitator's pages and the reflection session screen.

No database, no web framework: the numbers the room discusses can be checked by hand in unit tests.
"""

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from app.scorecards.schema import TemplateSpec, localize

ACTION_STATUSES = ("open", "in_progress", "done", "dropped")
# Actions in these states still need the cluster's attention at the next session.
UNFINISHED_ACTION_STATUSES = frozenset({"open", "in_progress"})


# --- live updates ---------------------------------------------------------------------------------


def live_etag(*parts: object) -> str:
    """A strong entity tag from the facts that decide what the live fragment shows.

    Built from cheap database counters rather than from the rendered page, so that a poll that
    finds nothing new costs one small query and no rendering.
    """
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:20]
    return f'"{digest}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison for If-None-Match: any listed tag, with or without W/, or *."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


# --- the session screen ---------------------------------------------------------------------------


def response_rate(submitted: int, participants: int) -> float | None:
    """Share of active participants who submitted, 0-100; None for a cluster without participants."""
    if participants <= 0:
        return None
    return min(100.0, 100.0 * submitted / participants)


@dataclass(frozen=True)
class Bar:
    point: int
    count: int
    share: float  # 0-100 of the ratings given


def distribution_bars(distribution: dict[int, int]) -> list[Bar]:
    """One bar per scale point, in scale order, with its share of all ratings (0 when nobody rated)."""
    total = sum(distribution.values())
    return [
        Bar(point=point, count=count, share=(100.0 * count / total) if total else 0.0)
        for point, count in sorted(distribution.items())
    ]


@dataclass(frozen=True)
class Topic:
    """A CSF as a discussion topic: how members rated it and what they wrote."""

    key: str
    title: str
    perspective_title: str
    score: float | None
    status: str | None
    ratings: int
    mean: float | None
    disagreement: float | None
    contested: bool
    bars: list[Bar]
    comments: list[str] = field(default_factory=list)


def discussion_order(topics: Sequence[Topic]) -> list[Topic]:
    """Most disagreement first; CSFs nobody rated last; ties keep scorecard order (sorted is stable)."""
    return sorted(topics, key=lambda t: (t.disagreement is None, -(t.disagreement or 0.0)))


@dataclass(frozen=True)
class TrendPoint:
    label: str
    value: float | None


def change(points: Sequence[TrendPoint]) -> float | None:
    """Change of the last point against the latest earlier point that has a value."""
    if not points or points[-1].value is None:
        return None
    for earlier in reversed(points[:-1]):
        if earlier.value is not None:
            return points[-1].value - earlier.value
    return None


def trend_word(delta: float | None, *, steady_within: float = 2.0) -> str:
    """up / down / steady for a change in score points; a couple of points is noise in a small group."""
    if delta is None:
        return "new"
    if delta > steady_within:
        return "up"
    if delta < -steady_within:
        return "down"
    return "steady"


@dataclass(frozen=True)
class KpiStanding:
    """Where a KPI stands between its baseline and its target, in words the room can read."""

    position: str  # no_data, no_target, below_baseline, on_the_way, target_reached
    gap: float | None  # how far from the target, in the KPI's unit (positive = still to go)


def kpi_standing(value: float | None, baseline: float | None, target: float | None, direction: str) -> KpiStanding:
    if value is None or not math.isfinite(value):
        return KpiStanding("no_data", None)
    if target is None:
        return KpiStanding("no_target", None)
    sign = 1.0 if direction == "increase" else -1.0
    gap = sign * (target - value)
    if gap <= 0:
        return KpiStanding("target_reached", gap)
    if baseline is not None and sign * (value - baseline) < 0:
        return KpiStanding("below_baseline", gap)
    return KpiStanding("on_the_way", gap)


# --- the action plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionView:
    id: int
    round_id: int
    csf_key: str | None
    title: str
    owner: str
    due_date: date | None
    status: str


def split_actions(actions: Iterable[ActionView], round_id: int, earlier_round_ids: set[int]) -> tuple[list, list]:
    """(to review first, agreed in this round).

    The review list holds the unfinished actions agreed in earlier rounds, oldest due date first
    (undated last), so a session starts with what was promised and is not done yet.
    """
    carried = [a for a in actions if a.round_id in earlier_round_ids and a.status in UNFINISHED_ACTION_STATUSES]
    carried.sort(key=lambda a: (a.due_date is None, a.due_date or date.max, a.id))
    current = [a for a in actions if a.round_id == round_id]
    return carried, current


def is_overdue(action: ActionView, today: date) -> bool:
    return action.due_date is not None and action.due_date < today and action.status in UNFINISHED_ACTION_STATUSES


# --- indicators proposed by members ---------------------------------------------------------------


def kpi_key_for(title: str, taken: set[str], *, max_length: int = 64) -> str:
    """A readable, unique KPI key from a proposal's title ("Joint purchases" -> "own-joint-purchases").

    Titles in Thai or other scripts have no ASCII letters left after folding; they get "own-kpi".
    The "own-" prefix keeps cluster-defined keys apart from present and future template keys.
    """
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:40].strip("-") or "kpi"
    base = f"own-{slug}"[: max_length - 4]
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key


# --- template upgrade -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateChange:
    kind: str  # perspective, csf, kpi
    key: str
    change: str  # added, removed, reworded, moved
    before: str | None = None
    after: str | None = None


def template_diff(old: TemplateSpec, new: TemplateSpec, lang: str | None = None) -> list[TemplateChange]:
    """What changes for a cluster moving from template version `old` to `new`, key by key.

    Keys are the identity of perspectives, CSFs and KPIs (answers are stored against them); a
    changed title or question under the same key is a rewording, a KPI under another CSF a move.
    """
    changes: list[TemplateChange] = []

    def text(spec: TemplateSpec, value: str | dict[str, str] | None) -> str | None:
        language = lang or spec.fallback_language
        return localize(value, language, spec.fallback_language) if value is not None else None

    def compare(kind: str, old_items: dict, new_items: dict, words: Sequence[str]) -> None:
        for key, item in old_items.items():
            if key not in new_items:
                changes.append(TemplateChange(kind, key, "removed", before=text(old, item.title)))
        for key, item in new_items.items():
            if key not in old_items:
                changes.append(TemplateChange(kind, key, "added", after=text(new, item.title)))
                continue
            for attribute in words:
                before = text(old, getattr(old_items[key], attribute, None))
                after = text(new, getattr(item, attribute, None))
                if before != after:
                    changes.append(TemplateChange(kind, key, "reworded", before=before, after=after))

    compare("perspective", {p.key: p for p in old.perspectives}, {p.key: p for p in new.perspectives}, ("title",))
    old_csfs = {c.key: (p.key, c) for p, c in old.iter_csfs()}
    new_csfs = {c.key: (p.key, c) for p, c in new.iter_csfs()}
    compare("csf", {k: c for k, (_, c) in old_csfs.items()}, {k: c for k, (_, c) in new_csfs.items()}, ("title",))
    for key, (perspective, _csf) in new_csfs.items():
        if key in old_csfs and old_csfs[key][0] != perspective:
            changes.append(TemplateChange("csf", key, "moved", before=old_csfs[key][0], after=perspective))
    old_kpis = {k.key: (c.key, k) for _, c, k in old.iter_kpis()}
    new_kpis = {k.key: (c.key, k) for _, c, k in new.iter_kpis()}
    compare(
        "kpi",
        {k: v for k, (_, v) in old_kpis.items()},
        {k: v for k, (_, v) in new_kpis.items()},
        ("title", "question", "unit"),
    )
    for key, (csf_key, _kpi) in new_kpis.items():
        if key in old_kpis and old_kpis[key][0] != csf_key:
            changes.append(TemplateChange("kpi", key, "moved", before=old_kpis[key][0], after=csf_key))
    return changes


def orphaned_custom_kpis(custom: dict[str, str], new: TemplateSpec) -> list[str]:
    """Keys of the cluster's own KPIs (key -> CSF key) whose CSF the new version no longer has."""
    return sorted(key for key, csf_key in custom.items() if new.csf(csf_key) is None)
