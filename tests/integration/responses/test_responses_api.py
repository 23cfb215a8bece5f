"""A member's self-evaluation through the JSON API: drafts, validation, idempotent submit, corrections."""

from typing import Any

from fastapi.testclient import TestClient

API = "/api/v1"


def _setup(admin_client: TestClient) -> dict[str, Any]:
    thai = next(t for t in admin_client.get(f"{API}/templates").json() if t["key"] == "thai-food-cluster")
    programme = admin_client.post(f"{API}/programmes", json={"name": "Food programme"}).json()
    cluster = admin_client.post(
        f"{API}/programmes/{programme['id']}/clusters",
        json={
            "name": "Bangkok food",
            "country": "TH",
            "template_version_id": thai["id"],
        },
    ).json()
    participant = admin_client.post(
        f"{API}/clusters/{cluster['id']}/participants", json={"organisation": "Siam Rice"}
    ).json()
    round_ = admin_client.post(f"{API}/clusters/{cluster['id']}/rounds", json={"label": "2026 H1"}).json()
    assert admin_client.patch(f"{API}/rounds/{round_['id']}", json={"status": "open"}).status_code == 200
    scorecard = admin_client.get(f"{API}/clusters/{cluster['id']}/scorecard").json()
    kpis = [k for p in scorecard["perspectives"] for c in p["csfs"] for k in c["kpis"]]
    return {
        "cluster": cluster,
        "participant": participant,
        "round": round_,
        "yes_no": next(k for k in kpis if k["level"] == "member" and k["type"] == "yes_no"),
        "cluster_kpi": next(k for k in kpis if k["level"] == "cluster"),
        "csf": scorecard["perspectives"][0]["csfs"][0],
    }


def test_draft_then_submit_twice_with_same_client_id_creates_one_response(admin_client: TestClient) -> None:
    s = _setup(admin_client)
    body = {
        "participant_id": s["participant"]["id"],
        "client_id": "phone-3f1c2a9b",
        "answers": [{"kpi_key": s["yes_no"]["key"], "value": True}],
        "ratings": [{"csf_key": s["csf"]["key"], "rating": 4, "comment": "Banks listen more now"}],
        "submit": True,
    }
    first = admin_client.post(f"{API}/rounds/{s['round']['id']}/responses", json=body)
    again = admin_client.post(f"{API}/rounds/{s['round']['id']}/responses", json=body)

    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["status"] == "submitted"
    assert first.json()["answers"] == [{"kpi_key": s["yes_no"]["key"], "value_num": 1.0, "value_text": None}]
    assert len(admin_client.get(f"{API}/rounds/{s['round']['id']}/responses").json()) == 1


def test_an_invalid_value_is_explained_and_nothing_is_written(admin_client: TestClient) -> None:
    s = _setup(admin_client)
    created = admin_client.post(
        f"{API}/rounds/{s['round']['id']}/responses", json={"participant_id": s["participant"]["id"]}
    ).json()
    saved = admin_client.put(
        f"{API}/responses/{created['id']}",
        json={"ratings": [{"csf_key": s["csf"]["key"], "rating": 3}]},
    )
    assert saved.status_code == 200

    bad = admin_client.put(
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
    kept = admin_client.get(f"{API}/responses/{created['id']}").json()
    assert kept["answers"] == [] and kept["ratings"][0]["rating"] == 3


def test_a_correction_after_submitting_is_kept_in_the_history(admin_client: TestClient) -> None:
    s = _setup(admin_client)
    key = s["yes_no"]["key"]
    created = admin_client.post(
        f"{API}/rounds/{s['round']['id']}/responses",
        json={
            "participant_id": s["participant"]["id"],
            "answers": [{"kpi_key": key, "value": False}],
            "submit": True,
        },
    ).json()

    corrected = admin_client.put(
        f"{API}/responses/{created['id']}", json={"answers": [{"kpi_key": key, "value": True}]}
    )

    assert corrected.status_code == 200 and corrected.json()["answers"][0]["value_num"] == 1.0
    history = admin_client.get(f"{API}/responses/{created['id']}/history").json()
    correction = next(h for h in history if h["action"] == "answer_corrected")
    assert correction["before"]["value_num"] == 0.0 and correction["after"]["value_num"] == 1.0


def test_closed_round_refuses_answers_and_unknown_ids_are_404(admin_client: TestClient) -> None:
    s = _setup(admin_client)
    created = admin_client.post(
        f"{API}/rounds/{s['round']['id']}/responses", json={"participant_id": s["participant"]["id"]}
    ).json()
    admin_client.patch(f"{API}/rounds/{s['round']['id']}", json={"status": "closed"})

    late = admin_client.put(
        f"{API}/responses/{created['id']}", json={"ratings": [{"csf_key": s["csf"]["key"], "rating": 2}]}
    )

    assert late.status_code == 409
    assert admin_client.get(f"{API}/responses/999999").status_code == 404
    assert admin_client.get(f"{API}/rounds/999999/scores").status_code == 404
    assert admin_client.post(f"{API}/clusters/999999/rounds", json={"label": "x"}).status_code == 404


def test_member_kpi_values_cannot_be_entered_by_hand(admin_client: TestClient) -> None:
    s = _setup(admin_client)
    url = f"{API}/rounds/{s['round']['id']}/kpi-values"
    assert admin_client.put(f"{url}/{s['yes_no']['key']}", json={"value": 3}).status_code == 422
    ok = admin_client.put(f"{url}/{s['cluster_kpi']['key']}", json={"value": 3, "note": "Bank of Thailand"})
    assert ok.status_code == 200 and ok.json()["value"] == 3


def test_validation_errors_name_the_field(admin_client: TestClient) -> None:
    bad = admin_client.post(f"{API}/programmes", json={"name": ""})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.name"


def test_the_same_client_id_with_other_content_is_refused(admin_client: TestClient) -> None:
    """It answered 200 with the old content (the OpenRosa path said 409 for the same case)."""
    s = _setup(admin_client)
    url = f"{API}/rounds/{s['round']['id']}/responses"
    body = {
        "participant_id": s["participant"]["id"],
        "client_id": "tablet-91c2e0aa",
        "answers": [{"kpi_key": s["yes_no"]["key"], "value": True}],
    }
    first = admin_client.post(url, json=body)
    assert first.status_code == 201
    other = admin_client.post(url, json={**body, "answers": [{"kpi_key": s["yes_no"]["key"], "value": False}]})
    assert other.status_code == 409
    assert other.json()["detail"] == "This change id was already used for a different change."
    same = admin_client.put(
        f"{API}/responses/{first.json()['id']}",
        json={"client_id": "tablet-91c2e0aa", "answers": [{"kpi_key": s["yes_no"]["key"], "value": False}]},
    )
    assert same.status_code == 409
    kept = admin_client.get(f"{API}/responses/{first.json()['id']}").json()
    assert kept["answers"] == [{"kpi_key": s["yes_no"]["key"], "value_num": 1.0, "value_text": None}]


def test_a_late_retry_of_an_older_correction_never_overwrites_a_newer_one(admin_client: TestClient) -> None:
    """Posted correction b=false, then c=true, then b retried under a new id: the answer went back to false."""
    s = _setup(admin_client)
    key = s["yes_no"]["key"]
    created = admin_client.post(
        f"{API}/rounds/{s['round']['id']}/responses",
        json={"participant_id": s["participant"]["id"], "submit": True},
    ).json()
    url = f"{API}/responses/{created['id']}"

    def correction(client_id: str, value: bool, changed_at: str) -> int:
        body = {"client_id": client_id, "changed_at": changed_at, "answers": [{"kpi_key": key, "value": value}]}
        return admin_client.put(url, json=body).status_code

    assert correction("phone-b-00000001", False, "2026-12-01T10:00:00+00:00") == 200
    assert correction("phone-c-00000001", True, "2026-12-01T10:05:00+00:00") == 200
    assert correction("phone-b-00000002", False, "2026-12-01T10:00:00+00:00") == 200  # the retry, late
    assert admin_client.get(url).json()["answers"][0]["value_num"] == 1.0
    history = admin_client.get(f"{url}/history").json()
    superseded = [h for h in history if h["action"] == "answer_superseded"]
    assert [h["after"]["value"] for h in superseded] == ["false"]
    # A retry of the newest correction itself, under its own id, changes nothing either.
    assert correction("phone-c-00000001", True, "2026-12-01T10:05:00+00:00") == 200
    assert len(admin_client.get(f"{url}/history").json()) == len(history)


def test_numbers_given_as_text_are_read_in_the_callers_language(admin_client: TestClient) -> None:
    s = _setup(admin_client)
    created = admin_client.post(
        f"{API}/rounds/{s['round']['id']}/responses", json={"participant_id": s["participant"]["id"]}
    ).json()
    url = f"{API}/responses/{created['id']}"
    spanish = {"Accept-Language": "es"}
    saved = admin_client.put(
        url, json={"answers": [{"kpi_key": "customer-satisfaction", "value": "12,5"}]}, headers=spanish
    )
    assert saved.status_code == 200 and saved.json()["answers"][0]["value_num"] == 12.5
    ambiguous = admin_client.put(
        url, json={"answers": [{"kpi_key": "core-skills-participants", "value": "1,500"}]}, headers=spanish
    )
    assert ambiguous.status_code == 422
    assert ambiguous.json()["errors"][0]["message"].startswith("“1,500” puede ser 1,5 o 1500")
    english = admin_client.put(url, json={"answers": [{"kpi_key": "core-skills-participants", "value": "1,500"}]})
    assert english.json()["answers"][-1]["value_num"] == 1500.0


def test_numbers_beyond_their_kpis_range_are_refused(admin_client: TestClient) -> None:
    """Two answers of 1e308 to a summed count made every page showing the round fail."""
    s = _setup(admin_client)
    created = admin_client.post(
        f"{API}/rounds/{s['round']['id']}/responses", json={"participant_id": s["participant"]["id"]}
    ).json()
    url = f"{API}/responses/{created['id']}"
    huge = admin_client.put(url, json={"answers": [{"kpi_key": "core-skills-participants", "value": 1e308}]})
    assert huge.status_code == 422
    assert huge.json()["errors"][0]["message"] == "Please enter a number no larger than 1,000,000,000,000,000."
    growth = admin_client.put(url, json={"answers": [{"kpi_key": "business-growth", "value": -2e15}]})
    assert growth.json()["errors"][0]["message"] == (
        "Please enter a number from -1,000,000,000,000,000 to 1,000,000,000,000,000."
    )
    assert admin_client.get(url).json()["answers"] == []


def test_a_question_for_firms_is_refused_from_an_institute(admin_client: TestClient) -> None:
    s = _setup(admin_client)
    institute = admin_client.post(
        f"{API}/clusters/{s['cluster']['id']}/participants",
        json={"organisation": "Food Research Institute", "organisation_type": "research"},
    ).json()
    refused = admin_client.post(
        f"{API}/rounds/{s['round']['id']}/responses",
        json={"participant_id": institute["id"], "answers": [{"kpi_key": s["yes_no"]["key"], "value": True}]},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [{"field": "answers[0].kpi_key", "message": "This question is for firms only."}]
