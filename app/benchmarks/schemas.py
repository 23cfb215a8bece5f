from datetime import datetime

from pydantic import BaseModel, Field


class Measure(BaseModel):
    """A benchmark measure: `overall`, `perspective:<key>`, `csf:<key>` or `kpi:<key>` (a raw KPI value)."""

    key: str
    kind: str
    title: str
    unit: str | None = None
    per_member: bool = False


class Freshness(BaseModel):
    """How current the figures are: roll-ups are recomputed in the background, never while a page is read."""

    updated_at: datetime | None = Field(description="When the newest of the roll-ups shown was computed")
    pending: int = Field(description="Clusters shown whose newer data the roll-ups do not include yet")


class HeatmapRow(BaseModel):
    cluster_id: int
    cluster_name: str
    programme_id: int
    round_id: int
    round_label: str
    round_status: str
    revision: int | None = Field(
        description="Of a closed round's frozen figures: 1, or more when the round was reopened and closed again"
    )
    values: dict[str, float | None]
    changes: dict[str, float | None] = Field(description="Change of each value since the heat map's `since` period")


class Heatmap(BaseModel):
    """Agency view: sharing clusters of the agency's programmes x the overall and perspective or CSF core scores,
    or x the raw values of the template's KPIs."""

    template_key: str
    period: str | None
    periods: list[str]
    filters: dict[str, str]
    options: dict[str, list[str]]
    columns: str = Field(description="perspective, csf or kpi: which measures are the columns")
    sort: str = Field(description="The measure key the rows are sorted by, or `cluster` (by name)")
    descending: bool = Field(description="Largest first; clusters without a value come last either way")
    measures: list[Measure]
    total: int = Field(description="Clusters with a round in the period: the rows of all pages")
    page: int = Field(description="This page, from 1")
    pages: int
    per_page: int | None = Field(description="Rows per page; null: every row on one page")
    rows: list[HeatmapRow]
    median: dict[str, float | None] = Field(description="Of each column over all rows, not only this page")
    quartiles: dict[str, tuple[float, float, float] | None] = Field(
        description="First quartile, median and third quartile of each column over all rows (the shades of KPIs)"
    )
    since: str | None = Field(description="The period changes are measured from (the one before `period`)")
    median_change: dict[str, float | None]
    freshness: Freshness


class PeerStatsRead(BaseModel):
    """A peer group's quartiles. Outside agency views a quartile is null when it would be one peer's own figure
    (an odd group's median, every quartile of 5 peers, a quartile between two equal values)."""

    n: int
    q1: float | None
    median: float | None
    q3: float | None
    band: str | None = Field(
        description="Where the cluster's own value lies among the quartiles shown: min-q1, q1-median, median-q3, "
        "q3-max, or a wider band (q1-q3, ...) when a quartile is withheld; no exact rank is given"
    )


class ChangeRead(BaseModel):
    """A measure's change since an earlier period (`since`): the cluster's own and, as for levels, the
    quartiles of its peers' changes (only peers with a value in both periods)."""

    since: str
    own: float | None
    peers: PeerStatsRead | None
    withheld: str | None = None


class PeerMeasure(BaseModel):
    measure: Measure
    own: float | None
    peers: PeerStatsRead | None
    withheld: str | None = None
    """Why no aggregate is shown (too few peers, or the group could be told apart from another)."""
    change: ChangeRead | None = None


class TrendPoint(BaseModel):
    """One period of a trend: the cluster's own value and its peer group's quartiles (the interquartile band
    q1-q3 and the median; a quartile that would be one peer's own figure is null)."""

    period: str
    own: float | None
    peer_median: float | None
    peers: int | None
    q1: float | None = None
    q3: float | None = None
    withheld: str | None = Field(default=None, description="Why the peers' figures of this period are not shown")


class Profile(BaseModel):
    """One cluster against its peers. In `aggregate` mode peers appear only as aggregates of at least
    `min_group` clusters; in `named` mode (agency staff of the cluster's programme) the peers are the
    sharing clusters of the viewer's programmes."""

    cluster_id: int
    cluster_name: str
    template_key: str
    mode: str
    shares_benchmarks: bool
    min_group: int
    period: str | None
    periods: list[str]
    since: str | None = Field(default=None, description="The earlier period each measure's change is measured from")
    attributes: dict[str, str | None] = Field(
        description="The cluster's benchmark attributes in the period (frozen when its round closed)"
    )
    dimensions: list[str]
    measures: list[PeerMeasure]
    trend_measure: str
    trend: list[TrendPoint]
    freshness: Freshness = Field(description="Of the cluster's own roll-up")


class Trend(BaseModel):
    """One measure of one cluster over every period, against its peer group (same modes as Profile)."""

    cluster_id: int
    cluster_name: str
    template_key: str
    mode: str
    min_group: int
    dimensions: list[str]
    measure: Measure
    measures: list[Measure]
    points: list[TrendPoint]
    freshness: Freshness


class ChangeRow(BaseModel):
    rank: int = Field(description="1 for the largest increase; equal changes share a rank")
    cluster_id: int
    cluster_name: str
    programme_id: int
    before: float = Field(description="The value in `since`")
    after: float = Field(description="The value in `period`")
    change: float


class ChangeRanking(BaseModel):
    """Agency view: the named sharing clusters ranked by their change of one measure between two periods,
    with the quartiles of the changes (`stats.median`: the peers' median change)."""

    template_key: str
    measure: Measure
    measures: list[Measure]
    since: str | None
    period: str | None
    periods: list[str]
    filters: dict[str, str]
    options: dict[str, list[str]]
    rows: list[ChangeRow]
    stats: PeerStatsRead | None
    freshness: Freshness


class DistributionPoint(BaseModel):
    cluster_id: int
    cluster_name: str
    value: float
    change: float | None = Field(description="Change since the distribution's `since` period")


class Distribution(BaseModel):
    template_key: str
    period: str | None
    periods: list[str]
    measure: Measure
    measures: list[Measure]
    since: str | None
    points: list[DistributionPoint]
    stats: PeerStatsRead | None
    freshness: Freshness


class ObservedKpi(BaseModel):
    id: int
    cluster_id: int
    cluster_name: str
    key: str
    title: str
    question: str | None
    level: str
    kpi_type: str
    unit: str | None
    period: str | None = Field(default=None, description="The latest period with a value (cluster-level indicators)")
    value: float | None = None
    change: float | None = Field(default=None, description="Since the cluster's period before `period`")


class SimilarGroup(BaseModel):
    """Cluster-defined indicators whose wording is alike; `representative` is what promotion copies. `rising`,
    `falling`, `steady`: how many of its indicators moved up, down or not at all in their latest change (units
    differ between clusters, so directions are counted rather than values averaged)."""

    representative: ObservedKpi
    clusters: int
    indicators: list[ObservedKpi]
    rising: int = 0
    falling: int = 0
    steady: int = 0


class ObservatoryCsf(BaseModel):
    csf_key: str
    csf_title: str
    indicators: int
    clusters: int
    groups: list[SimilarGroup]


class Observatory(BaseModel):
    template_key: str
    template_keys: list[str]
    csfs: list[ObservatoryCsf]
