"""Scores of a round come out of the API as computed by hand."""

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.clusters import service as cluster_service
from app.scorecards import service as scorecard_service
from app.scorecards.parsing import parse_template
from tests import factories

TINY = """
key: tiny
version: "1"
title: Tiny scorecard
perspectives:
  - key: process
    title: Cluster process
    csfs:
      - key: cost-control
        title: Cost control
        kpis:
          - key: lean
            title: Companies adopting lean manufacturing
            level: member
            question: Does your company use lean manufacturing?
            type: yes_no
            baseline: 0
            target: 4
          - key: outlets
            title: Retail outlets
            type: count
            baseline: 10
            target: 30
"""


def test_full_and_core_scores_match_hand_computation(admin_client: TestClient, session: Session) -> None:
    version = scorecard_service.load_spec(session, parse_template(TINY, source_name="tiny.yaml"))
    assert version is not None
    cluster = factories.cluster(session, template_key="tiny")
    round_ = factories.open_round(session, cluster)
    members = [factories.participant(session, cluster) for _ in range(3)]
    gone = factories.participant(session, cluster)
    cluster_service.deactivate_participant(session, gone, actor="test")
    session.commit()
    api = "/api/v1"
    for member, lean, rating in zip(members, [True, True, False], [4, 4, 5], strict=True):
        created = admin_client.post(
            f"{api}/rounds/{round_.id}/responses",
            json={
                "participant_id": member.id,
                "answers": [{"kpi_key": "lean", "value": lean}],
                "ratings": [{"csf_key": "cost-control", "rating": rating}],
                "submit": True,
            },
        )
        assert created.status_code == 201, created.text
    assert admin_client.put(f"{api}/rounds/{round_.id}/kpi-values/outlets", json={"value": 25}).status_code == 200
    own = {"key": "own", "csf_key": "cost-control", "title": "Joint purchases", "baseline": 0, "target": 10}
    assert admin_client.post(f"{api}/clusters/{cluster.id}/scorecard/kpis", json=own).status_code == 201
    assert admin_client.put(f"{api}/rounds/{round_.id}/kpi-values/own", json={"value": 0}).status_code == 200

    core = admin_client.get(f"{api}/rounds/{round_.id}/scores?scope=core").json()
    full = admin_client.get(f"{api}/rounds/{round_.id}/scores").json()

    # lean: 2 yes of baseline 0 / target 4 -> 50; outlets: 25 on 10 -> 30 -> 75; mean 62.5.
    # ratings 4, 4, 5 on 1-5: mean 4.333 -> 83.33; CSF = 0.5 * 62.5 + 0.5 * 83.33 = 72.92 (green).
    kpis = {k["key"]: k for k in core["kpis"]}
    assert kpis["lean"]["value"] == 2 and kpis["lean"]["achievement"] == pytest.approx(50)
    assert kpis["outlets"]["achievement"] == pytest.approx(75)
    assert "own" not in kpis
    assert core["csfs"][0]["perception"] == pytest.approx(83.333, abs=0.01)
    assert core["overall"]["value"] == pytest.approx(72.917, abs=0.01)
    assert core["overall"]["status"] == "green"
    assert core["responses_submitted"] == 3
    assert core["participants"] == 3  # the member set inactive is not counted
    # Full score adds the cluster's own KPI at 0: KPIs (50 + 75 + 0) / 3 = 41.67 -> CSF 62.5 (amber).
    assert full["overall"]["value"] == pytest.approx(62.5, abs=0.01)
    assert full["overall"]["status"] == "amber"
    assert core["csfs"][0]["distribution"] == {"1": 0, "2": 0, "3": 0, "4": 2, "5": 1}


def test_drafts_do_not_count(admin_client: TestClient, session: Session) -> None:
    cluster = factories.cluster(session)
    round_ = factories.open_round(session, cluster)
    member = factories.participant(session, cluster)
    session.commit()
    csf = admin_client.get(f"/api/v1/clusters/{cluster.id}/scorecard").json()["perspectives"][0]["csfs"][0]["key"]
    admin_client.post(
        f"/api/v1/rounds/{round_.id}/responses",
        json={"participant_id": member.id, "ratings": [{"csf_key": csf, "rating": 5}]},
    )
    scores = admin_client.get(f"/api/v1/rounds/{round_.id}/scores").json()
    assert scores["responses_submitted"] == 0
    assert scores["overall"]["value"] is None
