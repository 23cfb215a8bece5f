from pydantic import BaseModel


class ScoreRead(BaseModel):
    value: float | None
    status: str | None
    basis: int
    scored: int
    of: int


class KpiScoreRead(BaseModel):
    key: str
    csf_key: str
    title: str
    core: bool
    value: float | None
    baseline: float | None
    target: float | None
    achievement: float | None
    answers: int


class CsfScoreRead(BaseModel):
    key: str
    perspective_key: str
    title: str
    score: ScoreRead
    kpi_achievement: float | None
    perception: float | None
    ratings: int
    distribution: dict[int, int]
    disagreement: float | None
    contested: bool


class PerspectiveScoreRead(BaseModel):
    key: str
    title: str
    score: ScoreRead


class RoundScoresRead(BaseModel):
    """Scores of one round; `scope` is "full" (the cluster's own use) or "core" (what benchmarks compare)."""

    round_id: int
    scope: str
    responses_submitted: int
    participants: int
    overall: ScoreRead
    perspectives: list[PerspectiveScoreRead]
    csfs: list[CsfScoreRead]
    kpis: list[KpiScoreRead]
