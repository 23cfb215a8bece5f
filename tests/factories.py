"""Test data built through the service layer, so tests exercise the same paths the app does."""

from itertools import count

from sqlmodel import Session

from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant, Programme
from app.clusters.schemas import ClusterCreate, ParticipantCreate, ProgrammeCreate
from app.rounds import service as round_service
from app.rounds.models import Round
from app.rounds.schemas import RoundCreate, RoundStatus
from app.scorecards import service as scorecard_service

_seq = count(1)


def programme(session: Session, **overrides: object) -> Programme:
    data = {"name": f"Programme {next(_seq)}", "agency": "Test Agency", **overrides}
    return cluster_service.create_programme(session, ProgrammeCreate.model_validate(data))


def cluster(session: Session, *, template_key: str = "thai-food-cluster", **overrides: object) -> Cluster:
    version = scorecard_service.latest_version(session, template_key)
    data = {
        "programme_id": overrides.pop("programme_id", None) or programme(session).id,
        "name": f"Cluster {next(_seq)}",
        "sector": "Food processing",
        "country": "TH",
        "template_version_id": version.id,
        **overrides,
    }
    return cluster_service.create_cluster(session, ClusterCreate.model_validate(data))


def participant(session: Session, of: Cluster, **overrides: object) -> Participant:
    data = {"organisation": f"Firm {next(_seq)}", "person_name": "Owner", **overrides}
    return cluster_service.add_participant(session, of, ParticipantCreate.model_validate(data))


def open_round(session: Session, of: Cluster, label: str = "2026 H1") -> Round:
    round_ = round_service.create_round(session, of, RoundCreate(label=label))
    return round_service.set_status(session, round_, RoundStatus.open, actor="test")
