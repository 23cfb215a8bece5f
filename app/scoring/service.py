"""Collects a round's answers, ratings and KPI values from the database and hands them to the engine."""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from app.clusters import service as cluster_service
from app.clusters.models import Participant
from app.clusters.schemas import Scorecard
from app.responses.models import Answer, CsfRating, Response
from app.rounds.models import KpiValue, Round
from app.scorecards.schema import TemplateSpec
from app.scoring import logic
from app.scoring.schemas import (
    CsfScoreRead,
    KpiScoreRead,
    PerspectiveScoreRead,
    RoundScoresRead,
    ScoreRead,
    ThresholdsRead,
)


def rules_for(spec: TemplateSpec) -> logic.ScoringRules:
    return logic.ScoringRules(
        scale_min=spec.rating_scale.min,
        scale_max=spec.rating_scale.max,
        green=spec.thresholds.green,
        amber=spec.thresholds.amber,
        kpi_weight=spec.weights.kpi,
        perception_weight=spec.weights.perception,
    )


@dataclass(frozen=True)
class RoundInputs:
    """What the engine scores one round from, and how many submitted responses it rests on."""

    perspectives: list[logic.PerspectiveInput]
    csfs: list[logic.CsfInput]
    kpis: list[logic.KpiInput]
    submitted: int


def rounds_inputs(session: Session, rounds: Sequence[Round], scorecard: Scorecard) -> dict[int, RoundInputs]:
    """The engine's inputs for several rounds of one cluster, in four grouped queries whatever their number.

    Only submitted responses count: a draft is a member still thinking; and of a question for firms only,
    only firms' answers (an association's answer, given before the question was, is not one). Identical
    answers are counted in the database and expanded here, so the engine sees the same multiset of values
    either way.
    """
    ids = [r.id or 0 for r in rounds]
    submitted = select(Response.id).where(col(Response.round_id).in_(ids), Response.status == "submitted")
    firms_only = {k.key for k in scorecard.kpis() if k.level == "member" and k.asked_of == "firms"}
    answers = _submitted_values(
        session, submitted, Answer.response_id, Answer.kpi_key, Answer.value_num, firms_only=firms_only
    )
    ratings = _submitted_values(session, submitted, CsfRating.response_id, CsfRating.csf_key, CsfRating.rating)
    counts = dict(
        session.exec(
            select(Response.round_id, func.count())
            .where(col(Response.round_id).in_(ids), Response.status == "submitted")
            .group_by(col(Response.round_id))
        ).all()
    )
    entered: dict[int, dict[str, float]] = defaultdict(dict)
    for round_id, kpi_key, value in session.exec(
        select(KpiValue.round_id, KpiValue.kpi_key, KpiValue.value).where(col(KpiValue.round_id).in_(ids))
    ):
        entered[round_id][kpi_key] = value
    found = {}
    for round_id in ids:
        perspectives, csfs, kpis = inputs_from(scorecard, answers[round_id], ratings[round_id], entered[round_id])
        found[round_id] = RoundInputs(perspectives, csfs, kpis, counts.get(round_id, 0))
    return found


def _submitted_values(
    session: Session,
    submitted: Any,
    response_id: Any,
    key: Any,
    value: Any,
    *,
    firms_only: AbstractSet[str] = frozenset(),
) -> dict[int, dict[str, list[Any]]]:
    """Round -> key -> every non-empty value in the submitted responses (answers or ratings); for the keys in
    `firms_only`, only those of firms."""
    by_firm = col(Participant.organisation_type) == "firm"
    found: dict[int, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for round_id, key_value, found_value, from_firm, n in session.execute(
        sa_select(col(Response.round_id), key, value, by_firm, func.count())
        .join(Response, col(Response.id) == response_id)
        .join(Participant, col(Participant.id) == Response.participant_id)
        .where(col(response_id).in_(submitted), col(value).is_not(None))
        .group_by(col(Response.round_id), key, value, by_firm)
    ):
        if from_firm or key_value not in firms_only:
            found[round_id][key_value].extend([found_value] * n)
    return found


def inputs_from(
    scorecard: Scorecard,
    answer_values: Mapping[str, Sequence[float]],
    ratings: Mapping[str, Sequence[int]],
    entered: Mapping[str, float],
) -> tuple[list[logic.PerspectiveInput], list[logic.CsfInput], list[logic.KpiInput]]:
    """The engine's inputs from one round's submitted answers, ratings and entered values."""
    perspectives, csfs, kpis = [], [], []
    for perspective in scorecard.perspectives:
        perspectives.append(logic.PerspectiveInput(key=perspective.key, weight=perspective.weight))
        for csf in perspective.csfs:
            csfs.append(
                logic.CsfInput(
                    key=csf.key,
                    perspective_key=perspective.key,
                    weight=csf.weight,
                    ratings=tuple(ratings.get(csf.key, ())),
                )
            )
            for kpi in csf.kpis:
                if not kpi.active or kpi.type == "text":
                    continue
                if kpi.level == "member":
                    values = answer_values.get(kpi.key, [])
                    value = logic.aggregate(kpi.aggregate, values) if kpi.aggregate else None  # type: ignore[arg-type]
                    answers = len(values)
                else:
                    value = entered.get(kpi.key)
                    answers = 0 if value is None else 1
                kpis.append(
                    logic.KpiInput(
                        key=kpi.key,
                        csf_key=csf.key,
                        direction=kpi.direction,  # type: ignore[arg-type]
                        baseline=kpi.baseline,
                        target=kpi.target,
                        value=value,
                        weight=kpi.weight,
                        core=not kpi.is_custom,
                        answers=answers,
                    )
                )
    return perspectives, csfs, kpis


def _score(score: logic.Score) -> ScoreRead:
    return ScoreRead(**asdict(score))


def round_scores(
    session: Session, round_: Round, *, core_only: bool = False, lang: str | None = None
) -> RoundScoresRead:
    """`lang`: the language of the titles (the template's first language when None)."""
    assert round_.id is not None
    cluster = cluster_service.get_cluster(session, round_.cluster_id)
    scorecard = cluster_service.scorecard(session, cluster, lang=lang)
    inputs = rounds_inputs(session, [round_], scorecard)[round_.id]
    rules = rules_for(cluster_service.template_spec(session, cluster))
    result = logic.score_round(inputs.perspectives, inputs.csfs, inputs.kpis, rules, core_only=core_only)
    kpi_inputs = {k.key: k for k in inputs.kpis}
    return RoundScoresRead(
        round_id=round_.id,
        scope="core" if core_only else "full",
        thresholds=ThresholdsRead(green=rules.green, amber=rules.amber),
        responses_submitted=inputs.submitted,
        participants=cluster_service.count_active_participants(session, cluster),
        overall=_score(result.overall),
        perspectives=[
            PerspectiveScoreRead(key=p.key, title=p.title, score=_score(result.perspectives[p.key].score))
            for p in scorecard.perspectives
        ],
        csfs=[
            CsfScoreRead(
                key=c.key,
                perspective_key=p.key,
                title=c.title,
                score=_score(result.csfs[c.key].score),
                kpi_achievement=result.csfs[c.key].kpi_achievement,
                perception=result.csfs[c.key].perception.score,
                ratings=result.csfs[c.key].perception.n,
                distribution=result.csfs[c.key].perception.distribution,
                disagreement=result.csfs[c.key].perception.disagreement,
                contested=result.csfs[c.key].perception.contested,
            )
            for p in scorecard.perspectives
            for c in p.csfs
        ],
        kpis=[
            KpiScoreRead(
                key=k.key,
                csf_key=k.csf_key,
                title=k.title,
                core=not k.is_custom,
                unit=k.unit,
                value=kpi_inputs[k.key].value,
                baseline=k.baseline,
                target=k.target,
                achievement=result.kpis[k.key].achievement,
                answers=kpi_inputs[k.key].answers,
            )
            for k in scorecard.kpis()
            if k.key in result.kpis
        ],
    )
