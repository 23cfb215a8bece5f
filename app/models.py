"""Imports every table so that SQLModel.metadata is complete (Alembic and tests use it)."""

from app.audit.models import AuditEvent
from app.auth.models import AccountLink, ApiToken, Grant, JoinCode, MemberLink, RateLimitHit, Registration, User
from app.benchmarks.models import BenchmarkSource, BenchmarkValue
from app.clusters.models import Cluster, ClusterKpi, Participant, Programme
from app.interop.models import OdkSubmission
from app.proposals.models import IndicatorProposal
from app.reflection.models import ActionItem, ReflectionNote
from app.responses.models import Answer, AnswerChange, ClientChange, CsfRating, Response
from app.rounds.models import KpiValue, Round
from app.scorecards.models import TemplateVersion

__all__ = [
    "AccountLink",
    "ActionItem",
    "Answer",
    "AnswerChange",
    "ApiToken",
    "AuditEvent",
    "BenchmarkSource",
    "BenchmarkValue",
    "ClientChange",
    "Cluster",
    "ClusterKpi",
    "CsfRating",
    "Grant",
    "IndicatorProposal",
    "JoinCode",
    "KpiValue",
    "MemberLink",
    "OdkSubmission",
    "Participant",
    "Programme",
    "RateLimitHit",
    "ReflectionNote",
    "Registration",
    "Response",
    "Round",
    "TemplateVersion",
    "User",
]
