from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Typology(StrEnum):
    """Cluster typologies of the seed paper (section 1.2)."""

    # Markusen (1996)
    italianate = "italianate"
    satellite = "satellite"
    hub_and_spoke = "hub_and_spoke"
    # Altenburg & Meyer-Stamer (1999)
    survival = "survival"
    fordist = "fordist"
    transnational = "transnational"
    # Enright (2000)
    working = "working"
    latent = "latent"
    potential = "potential"
    policy_driven = "policy_driven"
    wishful_thinking = "wishful_thinking"


class Stage(StrEnum):
    """Stage of the cluster initiative, used to form peer groups."""

    emerging = "emerging"
    growing = "growing"
    mature = "mature"
    declining = "declining"


class OrganisationType(StrEnum):
    firm = "firm"
    association = "association"
    training = "training"
    research = "research"
    government = "government"
    finance = "finance"
    other = "other"


class ProgrammeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    agency: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=4000)


class ProgrammeRead(ProgrammeCreate):
    model_config = ConfigDict(from_attributes=True)
    id: int


class ClusterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    sector: str = Field(default="", max_length=120)
    country: str = Field(default="", pattern=r"^([A-Z]{2})?$", description="ISO 3166-1 alpha-2")
    region: str = Field(default="", max_length=120)
    typology: Typology | None = None
    stage: Stage | None = None
    template_version_id: int
    shares_benchmarks: bool = False
    shows_members_results: bool = True


class ClusterUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    sector: str | None = Field(default=None, max_length=120)
    country: str | None = Field(default=None, pattern=r"^([A-Z]{2})?$")
    region: str | None = Field(default=None, max_length=120)
    typology: Typology | None = None
    stage: Stage | None = None
    shares_benchmarks: bool | None = None
    shows_members_results: bool | None = None


class ClusterRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    programme_id: int
    name: str
    sector: str
    country: str
    region: str
    typology: str | None
    stage: str | None
    template_version_id: int
    shares_benchmarks: bool
    shows_members_results: bool


GOAL_DESCRIPTION = (
    "In the KPI's unit (its `unit` in the scorecard); percentages, including shares of yes answers (share_yes), "
    "from 0 to 100: 60 for 60 %, never the fraction 0.6. With the target on the better side of the baseline for "
    "the KPI's direction; null clears."
)


class KpiSettingsUpdate(BaseModel):
    """Changes to one KPI of a cluster's scorecard; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")
    active: bool | None = None
    baseline: float | None = Field(default=None, allow_inf_nan=False, description=GOAL_DESCRIPTION)
    target: float | None = Field(default=None, allow_inf_nan=False, description=GOAL_DESCRIPTION)
    weight: float | None = Field(default=None, gt=0, le=100, allow_inf_nan=False)


class CustomKpiCreate(BaseModel):
    """An indicator the cluster defines itself (seed Table 6: people identify their own indicators)."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)
    csf_key: str = Field(max_length=64)
    title: str = Field(min_length=1, max_length=300)
    level: str = Field(default="cluster", pattern="^(member|cluster)$")
    question: str | None = Field(default=None, max_length=1000)
    kpi_type: str = Field(default="number", pattern="^(yes_no|count|number|percent|rating)$")
    unit: str | None = Field(default=None, max_length=40)
    direction: str = Field(default="increase", pattern="^(increase|decrease)$")
    aggregate: str | None = Field(default=None, pattern="^(count_yes|share_yes|sum|mean|median)$")
    asked_of: str | None = Field(
        default=None, pattern="^(all|firms)$", description="Member-level KPIs: every participant (all) or firms only"
    )
    baseline: float | None = Field(default=None, allow_inf_nan=False, description=GOAL_DESCRIPTION)
    target: float | None = Field(default=None, allow_inf_nan=False, description=GOAL_DESCRIPTION)
    weight: float = Field(default=1.0, gt=0, le=100, allow_inf_nan=False)
    language: str | None = Field(default=None, max_length=10)


class ScorecardKpi(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: str
    csf_key: str
    title: str
    level: str
    question: str | None
    type: str
    unit: str | None = Field(
        description='The unit of the KPI\'s value, baseline and target: "%" for percentages and shares of yes '
        "answers (0 to 100)"
    )
    direction: str
    aggregate: str | None
    per_member: bool
    is_custom: bool
    active: bool
    baseline: float | None
    target: float | None
    weight: float
    min: float | None = Field(default=None, description="Smallest answer or value accepted (numeric types)")
    max: float | None = Field(default=None, description="Largest answer or value accepted (numeric types)")
    asked_of: str = Field(
        default="all", description="Who answers a member-level KPI: every participant (all) or firms only"
    )
    illustrative: bool = False
    fallback: list[str] = Field(default_factory=list)
    """Labels (title, question) shown in the template's fallback language: no translation yet."""
    language: str | None = None
    """A cluster-defined KPI's own language (it is written once, in one language); None for template KPIs."""


class ScorecardCsf(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: str
    title: str
    rating_question: str
    weight: float
    kpis: list[ScorecardKpi]
    fallback: list[str] = Field(default_factory=list)


class ScorecardPerspective(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: str
    title: str
    weight: float
    csfs: list[ScorecardCsf]
    fallback: list[str] = Field(default_factory=list)


class Scorecard(BaseModel):
    """A cluster's effective scorecard: the template merged with the cluster's own settings and KPIs.

    Frozen: one built scorecard serves many requests (clusters.service.scorecard)."""

    model_config = ConfigDict(frozen=True)

    cluster_id: int
    template_key: str
    template_version: str
    language: str
    """The language of the labels: the one asked for if the template declares it, else its fallback."""
    languages: list[str] = Field(default_factory=list)
    fallback_language: str = "en"
    rating_min: int
    rating_max: int
    rating_labels: dict[int, str] = Field(default_factory=dict)
    perspectives: list[ScorecardPerspective]

    def asks(self, kpi: ScorecardKpi, organisation_type: str) -> bool:
        """Whether a participant of this kind is asked this KPI's question (only their answers count)."""
        return kpi.active and kpi.level == "member" and (kpi.asked_of == "all" or organisation_type == "firm")

    def kpis(self) -> list[ScorecardKpi]:
        return [kpi for p in self.perspectives for c in p.csfs for kpi in c.kpis]

    def kpi(self, key: str) -> ScorecardKpi | None:
        return next((k for k in self.kpis() if k.key == key), None)

    def csf(self, key: str) -> ScorecardCsf | None:
        return next((c for p in self.perspectives for c in p.csfs if c.key == key), None)


class ParticipantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organisation: str = Field(min_length=1, max_length=200)
    organisation_type: OrganisationType = OrganisationType.firm
    person_name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=254)
    language: str | None = Field(default=None, max_length=10)


class ParticipantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    cluster_id: int
    organisation: str
    organisation_type: str
    person_name: str
    email: str | None
    language: str | None
    active: bool
