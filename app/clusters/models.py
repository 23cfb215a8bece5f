from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.timeutil import timestamp


class Programme(SQLModel, table=True):
    """An agency's cluster programme: the unit within which initiatives are compared by name."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    agency: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=4000)
    created_at: datetime = timestamp()


class Cluster(SQLModel, table=True):
    """A cluster initiative and the template version it is evaluated against."""

    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="programme.id", index=True)
    name: str = Field(max_length=200)
    sector: str = Field(default="", max_length=120)
    country: str = Field(default="", max_length=2)
    region: str = Field(default="", max_length=120)
    typology: str | None = Field(default=None, max_length=40)
    stage: str | None = Field(default=None, max_length=40)
    template_version_id: int = Field(foreign_key="template_version.id", index=True)
    shares_benchmarks: bool = False
    shows_members_results: bool = True
    # Raised (in SQL, by clusters.service) with every change to what the cluster's scorecard is built from: its
    # KPI rows, its template version. Every member request finds its built scorecard by it.
    scorecard_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Raised (in SQL, by app/audit/service.py data_changed) with every audited change of the cluster's data and
    # every participant added: the benchmark roll-ups are current when computed from this revision. Read it
    # in SQL; a Cluster loaded earlier in the session may hold an older value.
    data_revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = timestamp()


class ClusterKpi(SQLModel, table=True):
    """One KPI of a cluster's own scorecard.

    Template KPIs get a row each (is_custom false) carrying the cluster's activation, baseline,
    target and weight; cluster-defined KPIs (is_custom true) also carry their own definition.
    """

    __tablename__ = "cluster_kpi"
    __table_args__ = (UniqueConstraint("cluster_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="cluster.id", index=True)
    key: str = Field(max_length=64)
    csf_key: str = Field(max_length=64)
    is_custom: bool = False
    active: bool = True
    baseline: float | None = None
    target: float | None = None
    weight: float = 1.0
    # Definition of a cluster-defined KPI (empty for template KPIs, whose definition is the template's).
    title: str | None = Field(default=None, max_length=300)
    question: str | None = Field(default=None, max_length=1000)
    level: str | None = Field(default=None, max_length=10)
    kpi_type: str | None = Field(default=None, max_length=10)
    unit: str | None = Field(default=None, max_length=40)
    direction: str | None = Field(default=None, max_length=10)
    aggregate: str | None = Field(default=None, max_length=10)
    asked_of: str | None = Field(default=None, max_length=10)
    per_member: bool = False
    language: str | None = Field(default=None, max_length=10)
    created_at: datetime = timestamp()


class Participant(SQLModel, table=True):
    """A member firm or institution of the cluster and the person who answers for it."""

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="cluster.id", index=True)
    organisation: str = Field(max_length=200)
    # firm counts towards "per member firm" ratios; the others are support institutions.
    organisation_type: str = Field(default="firm", max_length=20)
    person_name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=254)
    language: str | None = Field(default=None, max_length=10)
    active: bool = True
    created_at: datetime = timestamp()
