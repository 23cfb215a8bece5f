"""Imports every table so that SQLModel.metadata is complete (Alembic and tests use it)."""

from app.audit.models import AuditEvent
from app.clusters.models import Cluster, ClusterKpi, Participant, Programme
from app.reflection.models import ActionItem, ReflectionNote
from app.responses.models import Answer, CsfRating, Response
from app.rounds.models import KpiValue, Round
from app.scorecards.models import TemplateVersion

__all__ = [
    "ActionItem",
    "Answer",
    "AuditEvent",
    "Cluster",
    "ClusterKpi",
    "CsfRating",
    "KpiValue",
    "Participant",
    "Programme",
    "ReflectionNote",
    "Response",
    "Round",
    "TemplateVersion",
]
