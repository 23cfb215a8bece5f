"""Scores, pages, exports and benchmarks never fail on stored data, however large its numbers."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from app.clusters import service as cluster_service
from app.clusters.models import Cluster, Participant
from app.clusters.schemas import KpiSettingsUpdate
from app.responses.models import Answer
from app.rounds import service as round_service
from app.rounds.models import Round
from app.rounds.schemas import KpiValueSet, RoundStatus
from app.scorecards.values import MAX_MAGNITUDE
from tests import factories

SUMMED = "core-skills-participants"  # Thai template: a count members answer, summed


def _staff(app: FastAPI, session: Session) -> TestClient:
    """An administrator logged in with a cookie, as the pages are used."""
    return factories.logged_in(app, session, factories.user(session, is_admin=True))


def _member(app: FastAPI, session: Session, participant: Participant) -> TestClient:
    """The member's phone, logged in through their personal link."""
    link = factories.member_link(session, participant)
    session.commit()
    phone = TestClient(app)
    assert phone.get(link, follow_redirects=False).status_code == 303
    return phone


def _submitted_round(
    session: Session, cluster: Cluster, members: list[Participant], answers: list[dict[str, object]]
) -> Round:
    round_ = factories.open_round(session, cluster)
    csfs = [c.key for p in cluster_service.scorecard(session, cluster).perspectives for c in p.csfs]
    for member, values in zip(members, answers, strict=True):
        factories.submitted(session, round_, member, answers=values, ratings=dict.fromkeys(csfs, 3))
    return round_


def _every_view(http: TestClient, member: TestClient, cluster: Cluster, peer: Cluster, round_: Round) -> Iterator[str]:
    """Every page, export and API answer that shows the round, its cluster's benchmarks or its peers'."""
    for path in (
        f"/api/v1/rounds/{round_.id}/scores",
        f"/api/v1/rounds/{round_.id}/scores?scope=core",
        f"/rounds/{round_.id}/session",
        f"/rounds/{round_.id}/session/live",
        f"/rounds/{round_.id}/print",
        f"/rounds/{round_.id}/export/scores.csv",
        f"/rounds/{round_.id}/export/answers.csv",
        f"/rounds/{round_.id}/export/answers-wide.csv",
        f"/rounds/{round_.id}/export.xlsx",
        "/benchmarks",
        "/api/v1/benchmarks/heatmap",
        f"/benchmarks/distribution?measure=kpi:{SUMMED}",
        f"/benchmarks/clusters/{cluster.id}",
        f"/benchmarks/clusters/{peer.id}",
        f"/api/v1/benchmarks/clusters/{peer.id}",
    ):
        reply = http.get(path)
        assert reply.status_code == 200, (path, reply.text[:300])
        yield path
    assert member.get(f"/rounds/{round_.id}/thanks").status_code == 200


@pytest.fixture
def peers(session: Session) -> tuple[Cluster, Cluster, list[Participant]]:
    """Two sharing clusters of a programme; the first gets the extreme answers, the second is its peer."""
    programme = factories.programme(session)
    cluster, peer = (factories.cluster(session, in_programme=programme, shares_benchmarks=True) for _ in range(2))
    members = [factories.participant(session, cluster) for _ in range(2)]
    peer_members = [factories.participant(session, peer) for _ in range(2)]
    round_service.set_status(
        session, _submitted_round(session, peer, peer_members, [{}, {}]), RoundStatus.closed, actor="t"
    )
    session.commit()
    return cluster, peer, members


def test_two_answers_of_1e308_stored_before_ranges_were_checked_break_nothing(
    app: FastAPI, session: Session, peers: tuple[Cluster, Cluster, list[Participant]]
) -> None:
    """fsum overflowed: scores API, session screen, print view, exports, thank-you page, heat map and other
    clusters' profiles all answered 500 until someone edited the answers."""
    cluster, peer, members = peers
    round_ = _submitted_round(session, cluster, members, [{SUMMED: 3}, {SUMMED: 4}])
    # As such answers were stored before every answer was checked against its KPI's range.
    for answer in session.exec(select(Answer).where(Answer.kpi_key == SUMMED)):
        answer.value_num = 1e308
        session.add(answer)
    round_service.set_status(session, round_, RoundStatus.closed, actor="t")
    session.commit()
    member = _member(app, session, members[0])
    assert len(list(_every_view(_staff(app, session), member, cluster, peer, round_))) == 15
    scores = _staff(app, session).get(f"/api/v1/rounds/{round_.id}/scores").json()
    summed = next(k for k in scores["kpis"] if k["key"] == SUMMED)
    assert summed["value"] is None and summed["achievement"] is None  # beyond a float: no value, no failure


count = st.sampled_from([0, 1, 10**9, int(MAX_MAGNITUDE)]) | st.integers(0, int(MAX_MAGNITUDE))
number = st.sampled_from([0.0, -MAX_MAGNITUDE, MAX_MAGNITUDE, 1e-9, -0.5]) | st.floats(-MAX_MAGNITUDE, MAX_MAGNITUDE)
percent = st.sampled_from([0.0, 0.001, 99.999, 100.0]) | st.floats(0, 100)
goal = st.tuples(number, number).filter(lambda pair: pair[0] < pair[1])


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    answers=st.lists(
        st.fixed_dictionaries(
            {
                SUMMED: count,
                "business-growth": number,
                "customer-satisfaction": percent,
                "loan-repayment-period": number,
            }
        ),
        min_size=2,
        max_size=2,
    ),
    growth_goal=goal,
    recruited=count,
)
def test_extreme_but_valid_values_go_through_the_engine_and_every_page(
    app: FastAPI,
    session: Session,
    peers: tuple[Cluster, Cluster, list[Participant]],
    answers: list[dict[str, object]],
    growth_goal: tuple[float, float],
    recruited: int,
) -> None:
    cluster, peer, members = peers
    baseline, target = growth_goal
    cluster_service.update_kpi_settings(
        session, cluster, "business-growth", KpiSettingsUpdate(baseline=baseline, target=target), actor="t"
    )
    round_ = _submitted_round(session, cluster, members, answers)
    round_service.set_kpi_value(session, round_, "members-recruited", KpiValueSet(value=recruited), actor="t")
    round_service.set_status(session, round_, RoundStatus.closed, actor="t")
    session.commit()
    member = _member(app, session, members[0])
    http = _staff(app, session)
    assert len(list(_every_view(http, member, cluster, peer, round_))) == 15
    scores = http.get(f"/api/v1/rounds/{round_.id}/scores").json()
    every = [scores["overall"], *(p["score"] for p in scores["perspectives"]), *(c["score"] for c in scores["csfs"])]
    assert all(s["value"] is None or 0 <= s["value"] <= 100 for s in every)
    assert all(k["achievement"] is None or 0 <= k["achievement"] <= 100 for k in scores["kpis"])
