from typing import Any, Literal

from fastapi import APIRouter

from app.deps import SessionDep
from app.rounds.deps import round_for
from app.rounds.models import Round
from app.scoring import service
from app.scoring.schemas import RoundScoresRead

router = APIRouter(tags=["scores"])


@router.get("/rounds/{round_id}/scores", response_model=RoundScoresRead)
def round_scores(
    session: SessionDep, scope: Literal["full", "core"] = "full", round_: Round = round_for("results")
) -> Any:
    """`full` includes the cluster's own KPIs; `core` only the template's, as benchmarks compare."""
    return service.round_scores(session, round_, core_only=scope == "core")
