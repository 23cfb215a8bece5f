from pydantic import BaseModel


class Measure(BaseModel):
    """A benchmark measure: `overall`, `perspective:<key>`, `csf:<key>` or `kpi:<key>` (a raw KPI value)."""

    key: str
    kind: str
    title: str
    unit: str | None = None
    per_member: bool = False


class HeatmapRow(BaseModel):
    cluster_id: int
    cluster_name: str
    programme_id: int
    round_id: int
    round_label: str
    round_status: str
    values: dict[str, float | None]


class Heatmap(BaseModel):
    """Agency view: sharing clusters of the agency's programmes x overall and CSF core scores."""

    template_key: str
    period: str | None
    periods: list[str]
    filters: dict[str, str]
    options: dict[str, list[str]]
    measures: list[Measure]
    rows: list[HeatmapRow]
    median: dict[str, float | None]


class PeerStatsRead(BaseModel):
    n: int
    q1: float
    median: float
    q3: float
    percentile_rank: float | None


class PeerMeasure(BaseModel):
    measure: Measure
    own: float | None
    peers: PeerStatsRead | None
    withheld: str | None = None
    """Why no aggregate is shown (too few peers, or the group could be told apart from another)."""


class TrendPoint(BaseModel):
    period: str
    own: float | None
    peer_median: float | None
    peers: int | None


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
    dimensions: list[str]
    measures: list[PeerMeasure]
    trend_measure: str
    trend: list[TrendPoint]


class DistributionPoint(BaseModel):
    cluster_id: int
    cluster_name: str
    value: float


class Distribution(BaseModel):
    template_key: str
    period: str | None
    periods: list[str]
    measure: Measure
    measures: list[Measure]
    points: list[DistributionPoint]
    stats: PeerStatsRead | None


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


class SimilarGroup(BaseModel):
    """Cluster-defined indicators whose wording is alike; `representative` is what promotion copies."""

    representative: ObservedKpi
    clusters: int
    indicators: list[ObservedKpi]


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
