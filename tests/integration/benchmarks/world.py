"""Clusters with scored rounds, built through the services (ratings only, so every score is known:
with no KPI data a CSF score is the members' perception, (mean rating - 1) x 25 on a 1-5 scale)."""

from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.benchmarks import service as benchmark_service
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant, Programme
from app.responses import service as response_service
from app.responses.schemas import AnswerIn, RatingIn, ResponseDraft
from app.rounds import service as round_service
from app.rounds.models import Round
from app.rounds.schemas import KpiValueSet, RoundCreate, RoundStatus
from tests import factories

H1_2025 = ("2025 H1", date(2025, 1, 1), date(2025, 6, 30))
H2_2025 = ("2025 H2", date(2025, 7, 1), date(2025, 12, 31))


def score_of(rating: float) -> float:
    return (rating - 1) * 25


def rate_round(
    session: Session,
    cluster: Cluster,
    members: list[Participant],
    ratings: list[int],
    *,
    period: tuple[str, date, date] = H1_2025,
    close: bool = True,
    answers: dict[str, bool | float] | None = None,
) -> Round:
    """One round in which member i rates every CSF ratings[i] (and gives `answers`), submitted."""
    label, start, end = period
    round_ = round_service.create_round(session, cluster, RoundCreate(label=label, period_start=start, period_end=end))
    round_service.set_status(session, round_, RoundStatus.open, actor="test")
    scorecard = cluster_service.scorecard(session, cluster)
    csf_keys = [c.key for p in scorecard.perspectives for c in p.csfs]
    for member, rating in zip(members, ratings, strict=True):
        response = response_service.start_response(session, round_, member)
        draft = ResponseDraft(
            ratings=[RatingIn(csf_key=k, rating=rating) for k in csf_keys],
            answers=[
                AnswerIn(kpi_key=k, value=v)
                for k, v in (answers or {}).items()
                if scorecard.asks(scorecard.kpi(k), member.organisation_type)  # type: ignore[arg-type]
            ],
        )
        response_service.save_draft(session, response, draft, scorecard=scorecard, actor="test", locale="en")
        response_service.submit(session, response, client_id=None, actor="test")
    if close:
        round_service.set_status(session, round_, RoundStatus.closed, actor="test")
    return round_


def rated_cluster(
    session: Session,
    programme: Programme,
    rating: int,
    *,
    shares: bool = True,
    periods: tuple[tuple[str, date, date], ...] = (H1_2025,),
    close: bool = True,
    **attributes: object,
) -> Cluster:
    """A cluster whose two members rate every CSF `rating` in each period: every core score is score_of(rating)."""
    cluster = factories.cluster(session, in_programme=programme, shares_benchmarks=shares, **attributes)
    members = [factories.participant(session, cluster) for _ in range(2)]
    for period in periods:
        rate_round(session, cluster, members, [rating, rating], period=period, close=close)
    return cluster


def refresh_rollups(session: Session) -> None:
    """What the app's background refresher does (app/benchmarks/refresher.py), by hand: tests run without it."""
    benchmark_service.refresh(session, benchmark_service.all_cluster_ids(session))


# --- a scene for attacks on one secret KPI value (test_attacks.py, test_release_record.py) ---------------

KPI = "sector-financial-products"
MEASURE = f"kpi:{KPI}"


@dataclass
class Peer:
    cluster: Cluster
    round: Round


def peer(session: Session, programme: Programme, secret: float, **attributes: Any) -> Peer:
    """A sharing cluster whose round of 2025-H1 is closed with `secret` as its KPI value."""
    cluster = factories.cluster(session, in_programme=programme, shares_benchmarks=True, **attributes)
    members = [factories.participant(session, cluster) for _ in range(2)]
    round_ = rate_round(session, cluster, members, [3, 3], period=H1_2025, close=False)
    round_service.set_kpi_value(session, round_, KPI, KpiValueSet(value=secret), actor="test")
    round_service.set_status(session, round_, RoundStatus.closed, actor="test")
    return Peer(cluster, round_)


@dataclass
class Scene:
    """A viewed cluster (its own figure 0), four peers (10, 20, 30, 40) and its facilitator, the attacker."""

    programme: Programme
    viewer: Peer
    peers: list[Peer]
    attacker: TestClient


def four_peers(app: FastAPI, session: Session) -> Scene:
    programme = factories.programme(session)
    viewer = peer(session, programme, 0.0)
    peers = [peer(session, programme, s) for s in (10.0, 20.0, 30.0, 40.0)]
    attacker = bearer(app, session, ("facilitator", viewer.cluster))
    session.commit()
    return Scene(programme, viewer, peers, attacker)


def revise(session: Session, p: Peer, secret: float) -> None:
    """What the peer's own facilitator may do: reopen the round, correct the figure, close it again."""
    round_service.set_status(session, p.round, RoundStatus.open, actor="test")
    round_service.set_kpi_value(session, p.round, KPI, KpiValueSet(value=secret), actor="test")
    round_service.set_status(session, p.round, RoundStatus.closed, actor="test")


def bearer(app: FastAPI, session: Session, *grants: tuple[str, Programme | Cluster]) -> TestClient:
    user = factories.user(session, grants=grants)
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {factories.api_token(session, user)}"
    return client


def kpi_row(client: TestClient, cluster: Cluster, *same: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/benchmarks/clusters/{cluster.id}", params={"same": list(same)})
    assert response.status_code == 200, response.text
    return next(m for m in response.json()["measures"] if m["measure"]["key"] == MEASURE)


def figures(row: dict[str, Any]) -> list[float]:
    peers = row["peers"] or {}
    return [q for q in (peers.get("q1"), peers.get("median"), peers.get("q3")) if q is not None]
