"""Pure rules of benchmarking: round alignment, peer statistics, disclosure control, indicator similarity.

No database and no web framework, so that the confidentiality guarantee can be tested exhaustively
(with hypothesis) on synthetic populations.
"""

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import combinations

from app.scoring import logic as scoring

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


def latest_round_per_period(rounds: Iterable[tuple[int, str, date, int]]) -> dict[str, int]:
    """Of (round_id, period, end date, sequence) for one cluster, the round that counts per period:
    the one that ends last, then the one created last."""
    chosen: dict[str, tuple[date, int, int]] = {}
    for round_id, period, end, sequence in rounds:
        candidate = (end, sequence, round_id)
        if period not in chosen or candidate > chosen[period]:
            chosen[period] = candidate
    return {period: item[2] for period, item in chosen.items()}


# --- peer statistics ------------------------------------------------------------------


@dataclass(frozen=True)
class PeerStats:
    """Aggregates of one peer group for one measure; never an individual peer's value."""

    n: int
    q1: float
    median: float
    q3: float
    percentile_rank: float | None  # of the viewed cluster among its peers, when it has a value


def peer_stats(values: Sequence[float], own: float | None) -> PeerStats | None:
    """Quartiles of the peers and the cluster's percentile rank among them (the scoring engine's rules)."""
    clean = [v for v in values if math.isfinite(v)]
    q = scoring.quartiles(clean)
    if q is None:
        return None
    rank = scoring.percentile_rank(own, clean) if own is not None and math.isfinite(own) else None
    return PeerStats(n=len(clean), q1=q[0], median=q[1], q3=q[2], percentile_rank=rank)


def median(values: Sequence[float]) -> float | None:
    q = scoring.quartiles(values)
    return None if q is None else q[1]


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


# --- indicator similarity (the observatory) ------------------------------------------

# Words that say nothing about what an indicator measures.
STOPWORDS = frozenset(
    [
        "a",
        "an",
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
SIMILARITY_THRESHOLD = 0.5


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


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Shared words over all words of the two wordings: 1 for the same words, 0 for none in common."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def group_similar(texts: Sequence[str], threshold: float = SIMILARITY_THRESHOLD) -> list[list[int]]:
    """Indices of `texts` grouped by wording: two wordings whose word sets overlap by at least
    `threshold` (Jaccard) are linked, and linked wordings form a group (single linkage).

    Token sets rather than a language model: the result is explainable to an agency officer in
    one sentence, deterministic, and needs no heavy dependency. Groups keep first-seen order.
    """
    token_sets = [tokens(t) for t in texts]
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in combinations(range(len(texts)), 2):
        if jaccard(token_sets[i], token_sets[j]) >= threshold:
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
