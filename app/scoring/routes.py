from typing import Any, Literal

from fastapi import APIRouter

from app.deps import SessionDep
from app.rounds import service as round_service
from app.scoring import service
from app.scoring.schemas import RoundScoresRead

router = APIRouter(tags=["scores"])


@router.get("/rounds/{round_id}/scores", response_model=RoundScoresRead)
def round_scores(round_id: int, session: SessionDep, scope: Literal["full", "core"] = "full") -> Any:
    """`full` includes the cluster's own KPIs; `core` only the template's, as benchmarks compare."""
    round_ = round_service.get_round(session, round_id)
    return service.round_scores(session, round_, core_only=scope == "core")
