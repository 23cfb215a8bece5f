"""Clusters with scored rounds, built through the services (ratings only, so every score is known:
with no KPI data a CSF score is the members' perception, (mean rating - 1) x 25 on a 1-5 scale)."""

from datetime import date

from sqlmodel import Session

from app.benchmarks import service as benchmark_service
from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant, Programme
from app.responses import service as response_service
from app.responses.schemas import AnswerIn, RatingIn, ResponseDraft
from app.rounds import service as round_service
from app.rounds.models import Round
from app.rounds.schemas import RoundCreate, RoundStatus
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
