from pydantic import BaseModel, Field


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
    unit: str | None = Field(description='The unit of value, baseline and target: "%" for percentages (0 to 100)')
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


class ThresholdsRead(BaseModel):
    """Where the status bands start on the 0-100 score: green from `green`, amber from `amber`, red below."""

    green: float
    amber: float


class RoundScoresRead(BaseModel):
    """Scores of one round; `scope` is "full" (the cluster's own use) or "core" (what benchmarks compare).
    Scores are unrounded (0-100); pages round them without contradicting their status."""

    round_id: int
    scope: str
    thresholds: ThresholdsRead
    responses_submitted: int
    participants: int
    overall: ScoreRead
    perspectives: list[PerspectiveScoreRead]
    csfs: list[CsfScoreRead]
    kpis: list[KpiScoreRead]
