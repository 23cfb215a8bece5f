"""Collects a round's answers, ratings and KPI values from the database and hands them to the engine."""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict

from sqlmodel import Session, col, select

from app.clusters import service as cluster_service
from app.clusters.schemas import Scorecard
from app.responses.models import Answer, CsfRating, Response
from app.rounds import service as round_service
from app.rounds.models import Round
from app.scorecards.schema import TemplateSpec
from app.scoring import logic
from app.scoring.schemas import (
    CsfScoreRead,
    KpiScoreRead,
    PerspectiveScoreRead,
    RoundScoresRead,
    ScoreRead,
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


def round_inputs(
    session: Session, round_: Round, scorecard: Scorecard
) -> tuple[list[logic.PerspectiveInput], list[logic.CsfInput], list[logic.KpiInput], int]:
    """Only submitted responses count: a draft is a member still thinking."""
    submitted = select(Response.id).where(Response.round_id == round_.id, Response.status == "submitted")
    answer_values: dict[str, list[float]] = defaultdict(list)
    for kpi_key, value in session.exec(
        select(Answer.kpi_key, Answer.value_num).where(
            col(Answer.response_id).in_(submitted), col(Answer.value_num).is_not(None)
        )
    ):
        if value is not None:
            answer_values[kpi_key].append(value)
    ratings: dict[str, list[int]] = defaultdict(list)
    for csf_key, rating in session.exec(
        select(CsfRating.csf_key, CsfRating.rating).where(
            col(CsfRating.response_id).in_(submitted), col(CsfRating.rating).is_not(None)
        )
    ):
        if rating is not None:
            ratings[csf_key].append(rating)
    entered = {row.kpi_key: row.value for row in round_service.kpi_values(session, round_)}
    perspectives, csfs, kpis = inputs_from(scorecard, answer_values, ratings, entered)
    return perspectives, csfs, kpis, len(session.exec(submitted).all())


def inputs_from(
    scorecard: Scorecard,
    answer_values: Mapping[str, Sequence[float]],
    ratings: Mapping[str, Sequence[int]],
    entered: Mapping[str, float],
) -> tuple[list[logic.PerspectiveInput], list[logic.CsfInput], list[logic.KpiInput]]:
    """The engine's inputs from one round's submitted answers, ratings and entered values.

    Separate from the queries so that the dashboard can fetch many rounds at once and still
    score each exactly as the API does.
    """
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
    perspectives, csfs, kpis, submitted = round_inputs(session, round_, scorecard)
    result = logic.score_round(
        perspectives, csfs, kpis, rules_for(cluster_service.template_spec(session, cluster)), core_only=core_only
    )
    kpi_inputs = {k.key: k for k in kpis}
    return RoundScoresRead(
        round_id=round_.id,
        scope="core" if core_only else "full",
        responses_submitted=submitted,
        participants=len([p for p in cluster_service.list_participants(session, cluster) if p.active]),
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
