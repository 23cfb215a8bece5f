"""Pure rules of benchmarking: round alignment, peer statistics, disclosure control, indicator similarity.

No database and no web framework, so that the confidentiality guarantee can be tested exhaustively
(with hypothesis) on synthetic populations.
"""

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import combinations
from typing import Any, TypeVar

from rapidfuzz import fuzz

T = TypeVar("T")

# Peer-group dimensions, in the order the interface lists them.
DIMENSIONS: tuple[str, ...] = ("programme", "sector", "country", "region", "typology", "stage")


# --- round alignment -----------------------------------------------------------------


def period_of(period_start: date | None, period_end: date | None, created: date) -> str:
    """The benchmark period of a round: the calendar half-year in which it ends, e.g. "2025-H2".

    Clusters run rounds on their own calendars, so rounds are compared by when the period they
    evaluate ends: an annual round ending in December meets the second-half rounds of clusters
    that evaluate twice a year. A round without dates counts at the date it was created.
    Half-years because rounds are rarely more frequent (members tire of surveys) and a finer grid
    would leave most periods with too few clusters to show anything.
    """
    when = period_end or period_start or created
    return f"{when.year}-H{1 if when.month <= 6 else 2}"


# --- peer statistics ------------------------------------------------------------------


@dataclass(frozen=True)
class PeerStats:
    """Aggregates of one peer group for one measure; never an individual peer's value.

    A quartile is None when releasing it would show one peer's own figure (see `released_quartiles`);
    `band` places the viewed cluster's own value between the quartiles that are shown."""

    n: int
    q1: float | None
    median: float | None
    q3: float | None
    band: str | None


QUARTILE_NAMES = ("q1", "median", "q3")


def quartile_neighbours(n: int) -> list[tuple[int, int]]:
    """For each quartile of n sorted values: the index j of the value below it and the weight (0-3, in
    quarters) of the value above it, as the inclusive method interpolates between x[j] and x[j + 1]."""
    return [divmod(i * (n - 1), 4) for i in (1, 2, 3)]


def inclusive_quartiles(ordered: Sequence[float]) -> tuple[float, float, float]:
    """Inclusive quartiles of sorted values computed exactly as PostgreSQL's percentile_cont does (the value
    below, plus the fraction of the step to the value above: lo + d/4 * (hi - lo)), so that the Python path
    (SQLite) and the database path give the same figures to the last bit."""
    out = []
    for j, weight in quartile_neighbours(len(ordered)):
        lo = ordered[j]
        out.append(lo if weight == 0 else lo + weight / 4 * (ordered[j + 1] - lo))
    return out[0], out[1], out[2]


def released_quartiles(
    n: int, quartiles: Sequence[float], pinned: Sequence[bool], *, exact: bool = False
) -> tuple[float | None, float | None, float | None]:
    """The quartiles of n peers that may be shown; `pinned[i]`: quartile i equals some peer's value.

    A quartile is shown only when it equals no peer's value. That is the case exactly when it falls strictly
    between two peers whose values differ; one at a peer's position (an odd group's median, every quartile of
    5 or 9) or between two equal values is that peer's (or those peers') own figure. Each released quartile
    is then a mean of two adjacent peers with positive weights, and no two released quartiles rest on the same
    two peers, so the figures shown never determine a single value (docs/disclosure.md, rule 4). Stated as
    "equals no value" so that PostgreSQL decides it in the same statement that computes the quartiles.
    `exact`: every quartile, for viewers who see the peers by name anyway.
    """
    if exact:
        return quartiles[0], quartiles[1], quartiles[2]
    if n < 3:
        # Of two peers every quartile rests on the same two values: three equations, two unknowns.
        return None, None, None
    shown = [None if hit else q for q, hit in zip(quartiles, pinned, strict=True)]
    return shown[0], shown[1], shown[2]


def rank_band(own: float | None, quartiles: Sequence[float | None]) -> str | None:
    """Where the own value lies among the shown quartiles: "min-q1", "q1-median", "median-q3", "q3-max", or
    a wider band when a quartile is withheld ("q1-q3"). A function of the released figures and the own value
    only, so reading it again after changing one's own value teaches nothing the quartiles did not."""
    shown = [(name, q) for name, q in zip(QUARTILE_NAMES, quartiles, strict=True) if q is not None]
    if own is None or not math.isfinite(own) or not shown:
        return None
    lower, upper = "min", "max"
    for name, q in shown:
        if own >= q:
            lower = name
        else:
            upper = name
            break
    return f"{lower}-{upper}"


def stats_of(
    n: int, quartiles: Sequence[float], pinned: Sequence[bool], own: float | None, *, exact: bool
) -> PeerStats:
    """Peer statistics from the group size, its quartiles and which of them equal a peer's value (PostgreSQL
    computes all three in one statement; `peer_stats` in Python)."""
    shown = released_quartiles(n, quartiles, pinned, exact=exact)
    return PeerStats(n, shown[0], shown[1], shown[2], rank_band(own, shown))


def peer_stats(values: Sequence[float], own: float | None, *, exact: bool = False) -> PeerStats | None:
    """Quartiles of the peers (released ones only, unless `exact`) and the own value's band."""
    clean = sorted(v for v in values if math.isfinite(v))
    if not clean:
        return None
    quartiles = inclusive_quartiles(clean)
    present = set(clean)
    return stats_of(len(clean), quartiles, [q in present for q in quartiles], own, exact=exact)


def median(values: Sequence[float]) -> float | None:
    clean = sorted(v for v in values if math.isfinite(v))
    return inclusive_quartiles(clean)[1] if clean else None


def change(later: float | None, earlier: float | None) -> float | None:
    """The change of a measure between two periods: a value like any other (the same disclosure rules apply)."""
    return None if later is None or earlier is None else later - earlier


def ordered(items: Sequence[T], key: Callable[[T], Any], *, descending: bool) -> list[T]:
    """Items sorted by `key` either way, those without a value (None: withheld or missing) last in both
    directions, since a missing value is neither high nor low; ties keep their order."""
    present = [i for i in items if key(i) is not None]
    return sorted(present, key=key, reverse=descending) + [i for i in items if key(i) is None]


@dataclass(frozen=True)
class Page:
    """Which rows of `total` a page shows (rows[start:stop]): a page asked for past either end is the first or
    the last page; without a page size, everything is one page."""

    number: int
    pages: int
    start: int
    stop: int
    total: int

    @classmethod
    def of(cls, total: int, number: int, size: int | None) -> "Page":
        size = size or max(total, 1)
        pages = max(1, -(-total // size))
        number = min(max(number, 1), pages)
        return cls(number, pages, (number - 1) * size, min(number * size, total), total)


# Heat-map shades of a cell: a score's fifth of 0-100, or a raw KPI value's quarter of its column.
BAND_SHADES = {"min-q1": 0, "q1-median": 1, "median-q3": 3, "q3-max": 4}


def heat_shade(value: float | None, *, score: bool, quartiles: Sequence[float | None] = ()) -> int | None:
    """0 (low) to 4 (high): scores by fifths of 0-100; raw KPI values, whose units differ from column to
    column, by where they lie among the column's quartiles."""
    if value is None or not math.isfinite(value):
        return None
    if score:
        return min(max(int(value // 20), 0), 4)
    band = rank_band(value, quartiles)
    return None if band is None else BAND_SHADES.get(band)


# --- disclosure control ---------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """A cluster of the benchmark population with its peer-group attributes."""

    cluster_id: int
    attributes: Mapping[str, str | None]


GroupKey = tuple[int, frozenset[str]]  # (own cluster the group is built around, dimensions matched)


def group_members(peers: Iterable[Peer], around: Peer, dimensions: Iterable[str], exclude: set[int]) -> frozenset[int]:
    """Peers that match `around` on every chosen dimension, without the viewer's own clusters.

    A dimension the cluster has no value for matches nothing: "same stage" for a cluster whose
    stage is unknown would otherwise lump it with every other unknown.
    """
    dims = tuple(dimensions)
    wanted = {d: around.attributes.get(d) for d in dims}
    return frozenset(
        p.cluster_id
        for p in peers
        if p.cluster_id not in exclude
        and all(wanted[d] not in (None, "") and p.attributes.get(d) == wanted[d] for d in dims)
    )


class PeerIndex:
    """Peers by dimension value, so that a peer group is a few set intersections instead of a scan
    (a viewer's 64 groups over a thousand clusters are asked for on every page view)."""

    def __init__(self, peers: Iterable[Peer]) -> None:
        by_value: dict[str, dict[str | None, set[int]]] = {d: {} for d in DIMENSIONS}
        everyone: set[int] = set()
        for p in peers:
            everyone.add(p.cluster_id)
            for d in DIMENSIONS:
                by_value[d].setdefault(p.attributes.get(d), set()).add(p.cluster_id)
        self.everyone = frozenset(everyone)
        self._by_value = {d: {v: frozenset(ids) for v, ids in values.items()} for d, values in by_value.items()}

    def group(self, around: Peer, dimensions: Iterable[str], exclude: set[int]) -> frozenset[int]:
        """Same answer as group_members, from the index."""
        members = self.everyone
        for d in dimensions:
            wanted = around.attributes.get(d)
            if wanted in (None, ""):
                return frozenset()
            members = members & self._by_value[d].get(wanted, frozenset())
        return members - exclude


def all_dimension_sets() -> list[frozenset[str]]:
    """Every combination of "same ... as mine" a viewer can ask for (2^6 = 64)."""
    return [frozenset(c) for r in range(len(DIMENSIONS) + 1) for c in combinations(DIMENSIONS, r)]


def releasable(groups: Mapping[GroupKey, frozenset[int]], min_group: int) -> set[GroupKey]:
    """The groups whose aggregates may be shown to a viewer who must not see any single peer.

    Two rules, both needed:
    - size: a group has at least `min_group` clusters (the viewer's own clusters are never in it);
    - differencing: two groups the viewer can obtain must not differ by fewer than `min_group`
      clusters (unless they are the same set). Otherwise "food clusters" (N) against "food
      clusters in my country" (N - 1) isolates the one food cluster abroad, and comparing the two
      medians or quartiles tells about that one cluster. A group is withheld when any other group
      of adequate size differs from it by 1 .. min_group - 1 clusters, so every pair of released
      groups differs by 0 or at least `min_group` clusters.

    `groups` must hold every group the viewer can ask for (every own cluster x every combination
    of dimensions) for one measure and period: releasing is decided over that whole family.
    """
    if min_group < 1:
        raise ValueError("min_group must be at least 1")
    candidates = {key: members for key, members in groups.items() if len(members) >= min_group}
    distinct = sorted(set(candidates.values()), key=len)
    unsafe: set[frozenset[int]] = set()
    for i, a in enumerate(distinct):
        for b in distinct[i + 1 :]:
            if len(b) - len(a) >= min_group:
                break  # sorted by size: every later set differs from `a` by at least this much
            if len(a ^ b) < min_group:
                unsafe.add(a)
                unsafe.add(b)
    return {key for key, members in candidates.items() if members not in unsafe}


# The same decision from group sizes alone, so that the database can count them (a few rows per measure) instead
# of sending every cluster. A peer is described, around each of the viewer's clusters, by a mask: one bit per
# dimension on which it matches that cluster (DIMENSIONS order, bit 0 the programme).
DIMENSION_BITS = {d: 1 << i for i, d in enumerate(DIMENSIONS)}

Tally = Mapping[tuple[int, int, bool], int]  # (viewer's cluster, mask around it, in the group asked for) -> peers


def dimension_mask(dimensions: Iterable[str]) -> int:
    return sum(DIMENSION_BITS[d] for d in set(dimensions))


def matching_mask(peer: Peer, around: Peer) -> int:
    """The dimensions on which `peer` matches `around`, as bits (as group_members matches: never on no value)."""
    mask = 0
    for d, bit in DIMENSION_BITS.items():
        wanted = around.attributes.get(d)
        if wanted not in (None, "") and peer.attributes.get(d) == wanted:
            mask |= bit
    return mask


def released_around(tally: Tally, viewed: int, min_group: int) -> bool:
    """May the group asked for around the viewed cluster be shown? `tally`: for each of the viewer's clusters (the
    viewed one among them), how many peers have each mask around it, split by whether they are in the group asked
    for. Exactly `releasable` for that group: at least `min_group` peers, and no group of adequate size around
    any of the viewer's clusters differs from it by 1 .. min_group - 1 peers. A group is every peer whose mask
    holds its bits, so sizes are sums of counts, and |a ^ b| = |a| + |b| - 2 |a & b|."""
    size = sum(n for (around, _mask, inside), n in tally.items() if around == viewed and inside)
    if size < min_group:
        return False
    for around in {around for around, _mask, _inside in tally}:
        masks = [(mask, inside, n) for (o, mask, inside), n in tally.items() if o == around]
        for bits in range(1 << len(DIMENSIONS)):  # every combination of dimensions, as all_dimension_sets
            other = sum(n for mask, _inside, n in masks if mask & bits == bits)
            both = sum(n for mask, inside, n in masks if inside and mask & bits == bits)
            if other >= min_group and 0 < size + other - 2 * both < min_group:
                return False
    return True


# Which frozen entry a peer contributes to a group: (round id, revision). A round reopened and closed again
# is a new revision, so a group after a revision differs from the group before it by that cluster.
Contribution = tuple[int, int]


def clusters_apart(a: Mapping[int, Contribution], b: Mapping[int, Contribution]) -> int:
    """How many clusters two groups differ by: in one and not the other, or in both with different entries."""
    return sum(1 for cluster_id in a.keys() | b.keys() if a.get(cluster_id) != b.get(cluster_id))


def safe_after(
    group: Mapping[int, Contribution], released: Iterable[Mapping[int, Contribution]], min_group: int
) -> bool:
    """May `group` be shown to a viewer who was shown `released` before, for the same period and measure?
    Only when it is the same group or differs from each by at least min_group clusters (rule 5 over time)."""
    return all(d == 0 or d >= min_group for d in (clusters_apart(group, r) for r in released))


# --- indicator similarity (the observatory) ------------------------------------------

# Words that say nothing about what an indicator measures.
STOPWORDS = frozenset(
    [
        "a",
        "ao",
        "an",
        "com",
        "con",
        "da",
        "das",
        "dos",
        "na",
        "no",
        "nos",
        "para",
        "por",
        "numero",
        "o",
        "os",
        "au",
        "aux",
        "and",
        "are",
        "as",
        "at",
        "by",
        "de",
        "del",
        "des",
        "di",
        "do",
        "du",
        "e",
        "el",
        "en",
        "et",
        "for",
        "from",
        "in",
        "into",
        "is",
        "la",
        "las",
        "le",
        "les",
        "los",
        "number",
        "of",
        "on",
        "or",
        "our",
        "per",
        "que",
        "share",
        "the",
        "their",
        "to",
        "total",
        "un",
        "una",
        "with",
        "y",
    ]
)
# Two wordings are alike from this rapidfuzz score (0-100) on; see `similarity` and docs/benchmarks.md for the
# examples the threshold was set from: it groups cognate wordings across languages (76) and rephrasings (100),
# and keeps apart indicators that share one word of three (62) or only a common noun (67).
SIMILARITY_THRESHOLD = 70
STEM = 5  # letters kept of each word: plurals and endings across languages fall away (missions, misiones, missões)


def tokens(text: str) -> frozenset[str]:
    """Normalised words of an indicator's wording: accents dropped, lower case, no stop words,
    a plural "s" trimmed, so "Joint export missions" and "joint export mission" are the same."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", plain)
    out = set()
    for word in words:
        if word in STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.add(word)
    return frozenset(out)


def normalised(text: str) -> str:
    """The wording as compared: its words (`tokens`) cut to their first STEM letters, sorted."""
    return " ".join(sorted({word[:STEM] for word in tokens(text)}))


def similarity(a: str, b: str) -> float:
    """How alike two wordings are, 0-100: rapidfuzz's token_set_ratio of their normalised forms (shared words
    count fully, the rest by edit distance, so "missi" and "misio" are near)."""
    return float(fuzz.token_set_ratio(normalised(a), normalised(b)))


def group_similar(texts: Sequence[str], threshold: float = SIMILARITY_THRESHOLD) -> list[list[int]]:
    """Indices of `texts` grouped by wording: two wordings whose `similarity` is at least `threshold` are
    linked, and linked wordings form a group (single linkage). Groups keep first-seen order.

    Text similarity rather than a language model: explainable to an agency officer in one sentence,
    deterministic, no heavy dependency. It joins languages only where words are cognates ("export missions",
    "misiones de exportación"); translations that share no word stay apart.
    """
    forms = [normalised(t) for t in texts]
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in combinations(range(len(texts)), 2):
        if forms[i] and forms[j] and fuzz.token_set_ratio(forms[i], forms[j]) >= threshold:
            parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(texts)):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def slug(text: str, taken: set[str]) -> str:
    """A template key from an indicator's title, unique among `taken`."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    base = "-".join(re.findall(r"[a-z0-9]+", plain))[:56].strip("-") or "indicator"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key


def next_version(version: str) -> str:
    """The version label after `version`: the last number goes up ("1" -> "2", "2024.1" -> "2024.2")."""
    match = re.search(r"(\d+)(?!.*\d)", version)
    if match is None:
        return f"{version}.1"
    return f"{version[: match.start()]}{int(match.group(1)) + 1}{version[match.end() :]}"
