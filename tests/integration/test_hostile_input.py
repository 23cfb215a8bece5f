"""A corpus of hostile input through the JSON API: stored verbatim when acceptable, refused with a clear 422
that changes nothing when not, and rendered back in every page without injection."""

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape

API = "/api/v1"

# Each is acceptable text; none may ever come out of a page unescaped.
HOSTILE = [
    "<script>alert('xss')</script>",
    '"><img src=x onerror=alert(1)>',
    "</td></tr></table><h1>fake</h1>",
    "{{ 7 * 7 }} {% raw %}",
    "javascript:alert(document.cookie)",
    "Robert'); DROP TABLE participant;--",
    "\u202eevil.exe\u202c left-to-right override",
    "👩\u200d👩\u200d👧 family, ค้าข้าว, Ḁ̴̛͓, ﷽",
    "e\u0301 (combining) and \ufeff bom and \u200b zero width",
]
MARKUP = ("<script>alert", "<img src=x", "<h1>fake", "onerror=alert(1)>")


def _kpis(scorecard: dict[str, Any]) -> list[dict[str, Any]]:
    return [k for p in scorecard["perspectives"] for c in p["csfs"] for k in c["kpis"]]


def _csrf(client: TestClient) -> str:
    token: str = client.get(f"{API}/me").json()["csrf_token"]
    return token


@pytest.fixture
def hostile_world(admin_client: TestClient, app: FastAPI) -> dict[str, Any]:
    """A programme, cluster, participant, custom KPI and open round whose every text is hostile."""
    evil = HOSTILE[0]
    thai = next(t for t in admin_client.get(f"{API}/templates").json() if t["key"] == "thai-food-cluster")
    programme = admin_client.post(f"{API}/programmes", json={"name": evil, "agency": HOSTILE[1]}).json()
    cluster = admin_client.post(
        f"{API}/programmes/{programme['id']}/clusters",
        json={"name": HOSTILE[2], "sector": HOSTILE[1], "country": "TH", "template_version_id": thai["id"]},
    ).json()
    participant = admin_client.post(
        f"{API}/clusters/{cluster['id']}/participants", json={"organisation": HOSTILE[4], "person_name": evil}
    ).json()
    scorecard = admin_client.get(f"{API}/clusters/{cluster['id']}/scorecard").json()
    csf = scorecard["perspectives"][0]["csfs"][0]
    custom = admin_client.post(
        f"{API}/clusters/{cluster['id']}/scorecard/kpis",
        json={
            "key": "evil-kpi",
            "csf_key": csf["key"],
            "title": evil,
            "question": HOSTILE[1],
            "level": "member",
            "kpi_type": "count",
            "aggregate": "sum",
            "unit": "<b>",
        },
    )
    assert custom.status_code == 201, custom.text
    round_ = admin_client.post(f"{API}/clusters/{cluster['id']}/rounds", json={"label": HOSTILE[3]}).json()
    assert admin_client.patch(f"{API}/rounds/{round_['id']}", json={"status": "open"}).status_code == 200
    link = admin_client.post(f"{API}/participants/{participant['id']}/link", json={}).json()
    member = TestClient(app)
    path = "/m/" + link["url"].rsplit("/m/", 1)[1]
    assert member.get(path, follow_redirects=False).status_code == 303
    member.headers["X-CSRF-Token"] = _csrf(member)
    response = member.post(f"{API}/rounds/{round_['id']}/responses", json={"participant_id": participant["id"]}).json()
    kpis = _kpis(admin_client.get(f"{API}/clusters/{cluster['id']}/scorecard").json())
    return {
        "cluster": cluster,
        "participant": participant,
        "round": round_,
        "response": response,
        "member": member,
        "csf": csf,
        "count": next(k for k in kpis if k["key"] == "evil-kpi"),
        "percent": next((k for k in kpis if k["level"] == "member" and k["type"] == "percent"), None),
        "yes_no": next(k for k in kpis if k["level"] == "member" and k["type"] == "yes_no"),
    }


def _assert_escaped(page: str, *texts: str) -> None:
    for marker in MARKUP:
        assert marker not in page, f"unescaped {marker!r} in the page"
    for text in texts:
        assert str(escape(text)) in page, f"{text!r} not shown escaped"


def test_hostile_text_is_stored_verbatim_and_every_page_escapes_it(
    hostile_world: dict[str, Any], admin_client: TestClient
) -> None:
    w = hostile_world
    for comment in HOSTILE:
        saved = w["member"].put(
            f"{API}/responses/{w['response']['id']}",
            json={"ratings": [{"csf_key": w["csf"]["key"], "rating": 3, "comment": comment}]},
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["ratings"][0]["comment"] == comment  # verbatim: no stripping, no mangling
    for name in HOSTILE:
        renamed = admin_client.patch(f"{API}/clusters/{w['cluster']['id']}", json={"name": name})
        assert renamed.status_code == 200 and renamed.json()["name"] == name

        staff_home = admin_client.get("/").text
        _assert_escaped(staff_home, name, HOSTILE[1])
        member_home = w["member"].get("/").text
        _assert_escaped(member_home, name, HOSTILE[0], HOSTILE[3])
        assert "{{ 7 * 7 }}" in member_home  # text, never evaluated as a template

    assert w["count"]["title"] == HOSTILE[0] and w["count"]["unit"] == "<b>"


def test_error_pages_escape_what_the_caller_sent(admin_client: TestClient) -> None:
    page = admin_client.get("/m/<script>alert(1)</script>")
    assert page.status_code == 404
    _assert_escaped(page.text)
    login = admin_client.post("/login", data={"email": HOSTILE[1], "password": "x", "csrf_token": _csrf(admin_client)})
    _assert_escaped(login.text, HOSTILE[1])


def _bad_answers(w: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
    """(body, field, words the message must contain)."""
    count, yes_no = w["count"]["key"], w["yes_no"]["key"]
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"answers": [{"kpi_key": count, "value": -3}]}, "answers[0].value", "whole number, 0 or more"),
        ({"answers": [{"kpi_key": count, "value": 2.5}]}, "answers[0].value", "whole number"),
        ({"answers": [{"kpi_key": count, "value": "lots"}]}, "answers[0].value", "number"),
        ({"answers": [{"kpi_key": count, "value": True}]}, "answers[0].value", "number"),
        ({"answers": [{"kpi_key": count, "value": "1e999"}]}, "answers[0].value", "number"),
        ({"answers": [{"kpi_key": count, "value": [1]}]}, "body.answers.0.value", ""),
        ({"answers": [{"kpi_key": count, "value": {"$gt": 0}}]}, "body.answers.0.value", ""),
        ({"answers": [{"kpi_key": yes_no, "value": "<script>"}]}, "answers[0].value", "yes or no"),
        ({"answers": [{"kpi_key": "<script>", "value": 1}]}, "answers[0].kpi_key", "Not a question"),
        ({"answers": [{"kpi_key": "x" * 65, "value": 1}]}, "body.answers.0.kpi_key", "at most 64"),
        ({"ratings": [{"csf_key": w["csf"]["key"], "rating": -1}]}, "ratings[0].rating", "rating from"),
        ({"ratings": [{"csf_key": w["csf"]["key"], "rating": "3 stars"}]}, "body.ratings.0.rating", "integer"),
        (
            {"ratings": [{"csf_key": w["csf"]["key"], "rating": 3, "comment": "x" * 2001}]},
            "body.ratings.0.comment",
            "at most 2000",
        ),
        ({"answers": [{"kpi_key": count, "value": 1, "extra": "<b>"}]}, "body.answers.0.extra", "not permitted"),
        ({"answers": "everything"}, "body.answers", "list"),
    ]
    if w["percent"] is not None:
        cases.append(
            ({"answers": [{"kpi_key": w["percent"]["key"], "value": 100.5}]}, "answers[0].value", "between 0 and 100")
        )
    return cases


def test_bad_values_get_a_clear_422_and_change_nothing(hostile_world: dict[str, Any]) -> None:
    w = hostile_world
    url = f"{API}/responses/{w['response']['id']}"
    good = {
        "answers": [{"kpi_key": w["count"]["key"], "value": 4}],
        "ratings": [{"csf_key": w["csf"]["key"], "rating": 2}],
    }
    assert w["member"].put(url, json=good).status_code == 200
    before = w["member"].get(url).json()
    for body, field, words in _bad_answers(w):
        # The bad value comes with a good one: all or nothing, so the good one is not written either.
        body = (
            {**body, "answers": [*body.get("answers", []), {"kpi_key": w["count"]["key"], "value": 9}]}
            if isinstance(body.get("answers", []), list)
            else body
        )
        refused = w["member"].put(url, json=body)
        assert refused.status_code == 422, (body, refused.text)
        errors = {e["field"]: e["message"] for e in refused.json()["errors"]}
        messages = [message for name, message in errors.items() if name == field or name.startswith(f"{field}.")]
        assert messages, (field, errors)
        assert any(words in message for message in messages), (words, messages)
        assert w["member"].get(url).json() == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("programmes", {"name": "x" * 201}, "body.name"),
        ("programmes", {"name": ""}, "body.name"),
        ("programmes", {"name": 42}, "body.name"),
        ("programmes", {"name": "Ok", "description": "x" * 4001}, "body.description"),
    ],
)
def test_overlong_and_mistyped_fields_are_refused_by_name(
    admin_client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    before = admin_client.get(f"{API}/{path}").json()
    refused = admin_client.post(f"{API}/{path}", json=body)
    assert refused.status_code == 422
    assert field in {e["field"] for e in refused.json()["errors"]}
    assert admin_client.get(f"{API}/{path}").json() == before


@pytest.mark.parametrize(
    "raw",
    ['"nul \\u0000 inside"', '"lone surrogate \\ud800"', '"\\udfff\\ud800 reversed pair"'],
    ids=["nul", "surrogate", "reversed"],
)
def test_text_with_characters_a_database_cannot_hold_is_not_a_crash(admin_client: TestClient, raw: str) -> None:
    """JSON may carry a NUL or half a surrogate pair; PostgreSQL cannot store a NUL, UTF-8 no lone surrogate."""
    before = admin_client.get(f"{API}/programmes").json()
    answer = admin_client.post(
        f"{API}/programmes", content=f'{{"name": {raw}}}', headers={"Content-Type": "application/json"}
    )
    assert answer.status_code in (201, 422), answer.text
    if answer.status_code == 422:
        assert answer.json()["detail"]
        assert admin_client.get(f"{API}/programmes").json() == before
    else:
        assert admin_client.get("/").status_code == 200
