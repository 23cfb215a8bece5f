"""A member's self-evaluation through the JSON API: drafts, validation, idempotent submit, corrections."""

from typing import Any

from fastapi.testclient import TestClient

API = "/api/v1"


def _setup(client: TestClient) -> dict[str, Any]:
    thai = next(t for t in client.get(f"{API}/templates").json() if t["key"] == "thai-food-cluster")
    programme = client.post(f"{API}/programmes", json={"name": "Food programme"}).json()
    cluster = client.post(
        f"{API}/clusters",
        json={
            "programme_id": programme["id"],
            "name": "Bangkok food",
            "country": "TH",
            "template_version_id": thai["id"],
        },
    ).json()
    participant = client.post(f"{API}/clusters/{cluster['id']}/participants", json={"organisation": "Siam Rice"}).json()
    round_ = client.post(f"{API}/clusters/{cluster['id']}/rounds", json={"label": "2026 H1"}).json()
    assert client.patch(f"{API}/rounds/{round_['id']}", json={"status": "open"}).status_code == 200
    scorecard = client.get(f"{API}/clusters/{cluster['id']}/scorecard").json()
    kpis = [k for p in scorecard["perspectives"] for c in p["csfs"] for k in c["kpis"]]
    return {
        "cluster": cluster,
        "participant": participant,
        "round": round_,
        "yes_no": next(k for k in kpis if k["level"] == "member" and k["type"] == "yes_no"),
        "cluster_kpi": next(k for k in kpis if k["level"] == "cluster"),
        "csf": scorecard["perspectives"][0]["csfs"][0],
    }


def test_draft_then_submit_twice_with_same_client_id_creates_one_response(client: TestClient) -> None:
    s = _setup(client)
    body = {
        "participant_id": s["participant"]["id"],
        "client_id": "phone-3f1c2a9b",
        "answers": [{"kpi_key": s["yes_no"]["key"], "value": True}],
        "ratings": [{"csf_key": s["csf"]["key"], "rating": 4, "comment": "Banks listen more now"}],
        "submit": True,
    }
    first = client.post(f"{API}/rounds/{s['round']['id']}/responses", json=body)
    again = client.post(f"{API}/rounds/{s['round']['id']}/responses", json=body)

    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["status"] == "submitted"
    assert first.json()["answers"] == [{"kpi_key": s["yes_no"]["key"], "value_num": 1.0, "value_text": None}]
    assert len(client.get(f"{API}/rounds/{s['round']['id']}/responses").json()) == 1


def test_an_invalid_value_is_explained_and_nothing_is_written(client: TestClient) -> None:
    s = _setup(client)
    created = client.post(
        f"{API}/rounds/{s['round']['id']}/responses", json={"participant_id": s["participant"]["id"]}
    ).json()
    saved = client.put(
        f"{API}/responses/{created['id']}",
        json={"ratings": [{"csf_key": s["csf"]["key"], "rating": 3}]},
    )
    assert saved.status_code == 200

    bad = client.put(
        f"{API}/responses/{created['id']}",
        json={
            "answers": [{"kpi_key": s["yes_no"]["key"], "value": "perhaps"}],
            "ratings": [{"csf_key": s["csf"]["key"], "rating": 9}],
        },
    )

    assert bad.status_code == 422
    fields = {e["field"]: e["message"] for e in bad.json()["errors"]}
    assert fields == {
        "answers[0].value": "Please answer yes or no.",
        "ratings[0].rating": "Please choose a rating from 1 to 5.",
    }
    kept = client.get(f"{API}/responses/{created['id']}").json()
    assert kept["answers"] == [] and kept["ratings"][0]["rating"] == 3


def test_a_correction_after_submitting_is_kept_in_the_history(client: TestClient) -> None:
    s = _setup(client)
    key = s["yes_no"]["key"]
    created = client.post(
        f"{API}/rounds/{s['round']['id']}/responses",
        json={
            "participant_id": s["participant"]["id"],
            "answers": [{"kpi_key": key, "value": False}],
            "submit": True,
        },
    ).json()

    corrected = client.put(f"{API}/responses/{created['id']}", json={"answers": [{"kpi_key": key, "value": True}]})

    assert corrected.status_code == 200 and corrected.json()["answers"][0]["value_num"] == 1.0
    history = client.get(f"{API}/responses/{created['id']}/history").json()
    correction = next(h for h in history if h["action"] == "answer_corrected")
    assert correction["before"]["value_num"] == 0.0 and correction["after"]["value_num"] == 1.0


def test_closed_round_refuses_answers_and_unknown_ids_are_404(client: TestClient) -> None:
    s = _setup(client)
    created = client.post(
        f"{API}/rounds/{s['round']['id']}/responses", json={"participant_id": s["participant"]["id"]}
    ).json()
    client.patch(f"{API}/rounds/{s['round']['id']}", json={"status": "closed"})

    late = client.put(f"{API}/responses/{created['id']}", json={"ratings": [{"csf_key": s["csf"]["key"], "rating": 2}]})

    assert late.status_code == 409
    assert client.get(f"{API}/responses/999999").status_code == 404
    assert client.get(f"{API}/rounds/999999/scores").status_code == 404
    assert client.post(f"{API}/clusters/999999/rounds", json={"label": "x"}).status_code == 404


def test_member_kpi_values_cannot_be_entered_by_hand(client: TestClient) -> None:
    s = _setup(client)
    url = f"{API}/rounds/{s['round']['id']}/kpi-values"
    assert client.put(f"{url}/{s['yes_no']['key']}", json={"value": 3}).status_code == 422
    ok = client.put(f"{url}/{s['cluster_kpi']['key']}", json={"value": 3, "note": "Bank of Thailand"})
    assert ok.status_code == 200 and ok.json()["value"] == 3


def test_validation_errors_name_the_field(client: TestClient) -> None:
    bad = client.post(f"{API}/programmes", json={"name": ""})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.name"
