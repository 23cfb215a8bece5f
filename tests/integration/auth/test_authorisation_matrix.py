"""Every route, as every role, inside and outside its scope.

The table below is the specification of who may do what. The first test fails when a route exists
that the table does not cover, so a new route cannot ship without an authorisation rule.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth import service as auth_service
from app.clusters import service as cluster_service
from app.dashboard import service as dashboard_service
from app.proposals import service as proposal_service
from app.proposals.schemas import ProposalCreate
from app.responses import service as response_service
from tests import factories

ROLES = ("anonymous", "admin", "agency", "facilitator", "observer", "member", "outsider", "other_member")
STAFF = {"admin", "agency", "facilitator", "observer", "outsider"}
MANAGE = {"admin", "agency", "facilitator"}
READ = MANAGE | {"observer", "member"}
RESULTS = READ  # the cluster under test shows live results to its members
RESPONSES = MANAGE
OWNER_OR_MANAGE = MANAGE | {"member"}
OWNER_OR_RESPONSES = RESPONSES | {"member"}
PUBLIC = set(ROLES)
STAFF_READ = MANAGE | {"observer"}  # facilitator pages: staff only, observers read-only
MEMBER = {"member"}  # a member's own self-evaluation form: staff answer through the API, not as the member
# Cross-cluster benchmark views: agency staff of any programme (they see their own programmes) and admins.
BENCHMARK_AGENCY = {"admin", "agency", "outsider"}

# (method, path) -> (roles allowed, json body or None)
MATRIX: dict[tuple[str, str], tuple[set[str], dict[str, Any] | None]] = {
    ("GET", "/api/v1/me"): (PUBLIC, None),
    ("POST", "/api/v1/me/tokens"): (STAFF, {"name": "script"}),
    ("POST", "/api/v1/participants/{participant_id}/link"): (MANAGE, {}),
    ("DELETE", "/api/v1/participants/{participant_id}/link"): (MANAGE, None),
    ("POST", "/api/v1/rounds/{round_id}/join-codes"): (MANAGE, None),
    ("GET", "/api/v1/rounds/{round_id}/join-codes"): (MANAGE, None),
    ("DELETE", "/api/v1/rounds/{round_id}/join-codes/{join_code_id}"): (MANAGE, None),
    ("GET", "/api/v1/rounds/{round_id}/registrations"): (MANAGE, None),
    ("DELETE", "/api/v1/rounds/{round_id}/registrations/{registered_id}"): (MANAGE, None),
    ("GET", "/api/v1/templates"): (PUBLIC, None),
    ("GET", "/api/v1/templates/{version_id}"): (PUBLIC, None),
    ("GET", "/api/v1/programmes"): (STAFF, None),
    ("POST", "/api/v1/programmes"): ({"admin"}, {"name": "New programme"}),
    ("GET", "/api/v1/programmes/{programme_id}"): ({"admin", "agency"}, None),
    ("POST", "/api/v1/programmes/{programme_id}/clusters"): (
        {"admin", "agency"},
        {"name": "New cluster", "template_version_id": "{version_id}"},
    ),
    ("GET", "/api/v1/clusters"): (STAFF, None),
    ("GET", "/api/v1/clusters/{cluster_id}"): (READ, None),
    ("PATCH", "/api/v1/clusters/{cluster_id}"): (MANAGE, {"sector": "Food"}),
    ("GET", "/api/v1/clusters/{cluster_id}/scorecard"): (READ, None),
    ("PATCH", "/api/v1/clusters/{cluster_id}/scorecard/kpis/{kpi_key}"): (MANAGE, {"target": 9}),
    ("POST", "/api/v1/clusters/{cluster_id}/scorecard/kpis"): (
        MANAGE,
        {"key": "own-kpi", "csf_key": "cost-control", "title": "Joint purchases"},
    ),
    ("GET", "/api/v1/clusters/{cluster_id}/participants"): (MANAGE, None),
    ("POST", "/api/v1/clusters/{cluster_id}/participants"): (MANAGE, {"organisation": "New firm"}),
    ("GET", "/api/v1/clusters/{cluster_id}/rounds"): (READ, None),
    ("POST", "/api/v1/clusters/{cluster_id}/rounds"): (MANAGE, {"label": "Next"}),
    ("GET", "/api/v1/rounds/{round_id}"): (READ, None),
    ("PATCH", "/api/v1/rounds/{round_id}"): (MANAGE, {"status": "open"}),
    ("GET", "/api/v1/rounds/{round_id}/kpi-values"): (RESULTS, None),
    ("PUT", "/api/v1/rounds/{round_id}/kpi-values/{kpi_key}"): (MANAGE, {"value": 3}),
    ("POST", "/api/v1/rounds/{round_id}/responses"): (OWNER_OR_MANAGE, {"participant_id": "{participant_id}"}),
    ("GET", "/api/v1/rounds/{round_id}/responses"): (RESPONSES, None),
    ("GET", "/api/v1/responses/{response_id}"): (OWNER_OR_RESPONSES, None),
    ("PUT", "/api/v1/responses/{response_id}"): (OWNER_OR_MANAGE, {"answers": []}),
    ("POST", "/api/v1/responses/{response_id}/submit"): (OWNER_OR_MANAGE, {}),
    ("GET", "/api/v1/responses/{response_id}/history"): (OWNER_OR_RESPONSES, None),
    ("GET", "/api/v1/rounds/{round_id}/scores"): (RESULTS, None),
    ("GET", "/api/v1/benchmarks/heatmap"): (BENCHMARK_AGENCY, None),
    ("GET", "/api/v1/benchmarks/distribution"): (BENCHMARK_AGENCY, None),
    ("GET", "/api/v1/benchmarks/observatory"): (BENCHMARK_AGENCY, None),
    ("GET", "/api/v1/benchmarks/clusters/{cluster_id}"): (RESULTS, None),
    ("GET", "/benchmarks"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/heatmap.csv"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/heatmap.xlsx"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/distribution"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/distribution.csv"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/distribution.xlsx"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/clusters/{cluster_id}"): (RESULTS, None),
    ("GET", "/benchmarks/clusters/{cluster_id}/radar.svg"): (RESULTS, None),
    ("GET", "/benchmarks/clusters/{cluster_id}/profile.{fmt}"): (RESULTS, None),
    ("POST", "/benchmarks/clusters/{cluster_id}/sharing"): (MANAGE, None),
    ("GET", "/benchmarks/observatory"): (BENCHMARK_AGENCY, None),
    # Without a chosen indicator both answer 422 to those allowed; writing a file needs an admin.
    ("GET", "/benchmarks/observatory/promote.yaml"): (BENCHMARK_AGENCY, None),
    ("POST", "/benchmarks/observatory/promote"): (BENCHMARK_AGENCY, None),
    ("GET", "/api/v1/rounds/{round_id}/xlsform"): (READ, None),
    # Answer imports: without a file the handler answers 422, so the policy is all this checks.
    ("POST", "/api/v1/rounds/{round_id}/imports"): (MANAGE, None),
    # OpenRosa for ODK Collect: the member token in the path is the credential (no cookie, no CSRF).
    ("GET", "/openrosa/m/{token}/formList"): (PUBLIC, None),
    ("GET", "/openrosa/m/{token}/forms/{round_id}"): (PUBLIC, None),
    ("GET", "/openrosa/m/{token}/submission"): (PUBLIC, None),
    ("POST", "/openrosa/m/{token}/submission"): (PUBLIC, None),
    ("GET", "/"): (PUBLIC, None),
    ("GET", "/login"): (PUBLIC, None),
    ("POST", "/login"): (PUBLIC, None),
    ("POST", "/logout"): (PUBLIC, None),
    ("GET", "/account/password"): (STAFF, None),
    ("POST", "/account/password"): (STAFF, None),
    ("GET", "/m/{token}"): (PUBLIC, None),
    ("GET", "/join"): (PUBLIC, None),
    ("POST", "/join"): (PUBLIC, None),
    ("POST", "/language"): (PUBLIC, None),
    ("GET", "/sw.js"): (PUBLIC, None),
    ("GET", "/rounds/{round_id}/answer"): (MEMBER, None),
    ("GET", "/rounds/{round_id}/answer/{step}"): (MEMBER, None),
    ("POST", "/rounds/{round_id}/answer/{step}"): (MEMBER, None),
    ("POST", "/rounds/{round_id}/autosave"): (MEMBER, None),
    ("GET", "/rounds/{round_id}/review"): (MEMBER, None),
    ("POST", "/rounds/{round_id}/submit"): (MEMBER, None),
    ("GET", "/rounds/{round_id}/thanks"): (MEMBER, None),
    ("GET", "/rounds/{round_id}/proposals"): (MEMBER, None),
    ("POST", "/rounds/{round_id}/proposals"): (MEMBER, None),
    ("GET", "/clusters/{cluster_id}/setup"): (STAFF_READ, None),
    ("POST", "/clusters/{cluster_id}/setup/kpis/{kpi_key}"): (MANAGE, None),
    ("POST", "/clusters/{cluster_id}/setup/kpis"): (MANAGE, None),
    ("GET", "/clusters/{cluster_id}/upgrade/{version_id}"): (MANAGE, None),
    ("POST", "/clusters/{cluster_id}/upgrade/{version_id}"): (MANAGE, None),
    ("GET", "/clusters/{cluster_id}/proposals"): (STAFF_READ, None),
    ("POST", "/clusters/{cluster_id}/proposals/{proposal_id}"): (MANAGE, None),
    ("GET", "/clusters/{cluster_id}/rounds"): (STAFF_READ, None),
    ("POST", "/clusters/{cluster_id}/rounds"): (MANAGE, None),
    ("GET", "/rounds/{round_id}/manage"): (STAFF_READ, None),
    ("POST", "/rounds/{round_id}/status"): (MANAGE, None),
    ("POST", "/rounds/{round_id}/kpi-values/{kpi_key}"): (MANAGE, None),
    ("POST", "/rounds/{round_id}/member-links"): (MANAGE, None),
    ("POST", "/rounds/{round_id}/join-code"): (MANAGE, None),
    ("GET", "/rounds/{round_id}/session"): (STAFF_READ, None),
    ("GET", "/rounds/{round_id}/session/live"): (STAFF_READ, None),
    ("POST", "/rounds/{round_id}/notes"): (MANAGE, None),
    ("POST", "/rounds/{round_id}/notes/{note_id}"): (MANAGE, None),
    ("POST", "/rounds/{round_id}/actions"): (MANAGE, None),
    ("POST", "/rounds/{round_id}/actions/{action_id}"): (MANAGE, None),
    ("GET", "/rounds/{round_id}/print"): (STAFF_READ, None),
    ("GET", "/rounds/{round_id}/export/answers.csv"): (RESPONSES, None),
    ("GET", "/rounds/{round_id}/export/scores.csv"): (STAFF_READ, None),
    ("GET", "/rounds/{round_id}/export.xlsx"): (RESPONSES, None),
}
UNDOCUMENTED = {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc")}


def _routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers; included routers are expanded with their prefixes."""
    found = set()
    for route in app.routes:
        # FastAPI keeps included routers as one entry each; their effective routes carry the full path.
        expanded = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for effective in expanded:
            for method in set(getattr(effective, "methods", None) or ()) - {"HEAD", "OPTIONS"}:
                found.add((method, effective.path))
    return found - UNDOCUMENTED


def test_every_route_has_an_authorisation_rule(app: FastAPI) -> None:
    routes = _routes(app)
    assert routes - MATRIX.keys() == set(), "add these routes to MATRIX with the roles that may use them"
    assert MATRIX.keys() - routes == set(), "MATRIX lists routes that no longer exist"


@dataclass
class World:
    ids: dict[str, Any]
    clients: dict[str, TestClient]


@pytest.fixture
def world(app: FastAPI, client: TestClient, session: Session) -> World:
    programme = factories.programme(session)
    cluster = factories.cluster(session, in_programme=programme)
    other = factories.cluster(session)  # another programme
    member = factories.participant(session, cluster)
    other_member = factories.participant(session, other)
    round_ = factories.open_round(session, cluster)
    response = response_service.start_response(session, round_, member)
    users = {
        "admin": factories.user(session, is_admin=True),
        "agency": factories.user(session, grants=(("agency", programme),)),
        "facilitator": factories.user(session, grants=(("facilitator", cluster),)),
        "observer": factories.user(session, grants=(("observer", cluster),)),
        "outsider": factories.user(session, grants=(("facilitator", other), ("agency", factories.programme(session)))),
    }
    tokens = {role: factories.api_token(session, user) for role, user in users.items()}
    member_tokens = {
        "member": auth_service.issue_member_link(session, member.id or 0),
        "other_member": auth_service.issue_member_link(session, other_member.id or 0),
    }
    join_code, _code = auth_service.open_join_code(
        session, round_.id or 0, created_by=users["facilitator"].id or 0, secret=app.state.settings.secret_key
    )
    registered = factories.participant(session, cluster)
    proposal = proposal_service.propose(
        session,
        member,
        ProposalCreate(csf_key="cost-control", title="Joint purchases"),
        scorecard=cluster_service.scorecard(session, cluster),
        round_id=round_.id,
        actor="test",
    )
    action = dashboard_service.add_action(
        session, round_, title="Visit the bank", owner="", due_date=None, csf_key=None, actor="test"
    )
    note = dashboard_service.add_note(session, round_, csf_key=None, text="Split on costs", actor="test")
    auth_service.record_registration(session, join_code, registered.id or 0)
    session.commit()

    clients: dict[str, TestClient] = {}
    for role in ROLES:
        role_client = TestClient(app)
        if role in tokens:
            role_client.headers["Authorization"] = f"Bearer {tokens[role]}"
        elif role in member_tokens:
            assert role_client.get(f"/m/{member_tokens[role]}", follow_redirects=False).status_code == 303
        role_client.headers["X-CSRF-Token"] = role_client.get("/api/v1/me").json()["csrf_token"]
        clients[role] = role_client
    ids = {
        "programme_id": programme.id,
        "cluster_id": cluster.id,
        "participant_id": member.id,
        "round_id": round_.id,
        "response_id": response.id,
        "join_code_id": join_code.id,
        "registered_id": registered.id,
        "version_id": cluster.template_version_id,
        "kpi_key": "sector-financial-products",
        "token": member_tokens["member"],
        "step": 1,
        "fmt": "csv",
        "proposal_id": proposal.id,
        "action_id": action.id,
        "note_id": note.id,
    }
    return World(ids=ids, clients=clients)


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    return value


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
def test_route_as_every_role(method: str, path: str, world: World) -> None:
    allowed, body = MATRIX[(method, path)]
    url = path.format(**world.ids)
    payload = _fill(body, world.ids)
    # Denied roles first: a refused request must change nothing the allowed ones then see.
    for role in sorted(ROLES, key=lambda r: r in allowed):
        response = world.clients[role].request(method, url, json=payload, follow_redirects=False)
        assert response.status_code < 500, (role, response.text)
        if allowed is PUBLIC:
            continue
        if role in allowed:
            assert response.status_code not in (401, 403, 404), (role, response.status_code, response.text)
        elif role == "anonymous":
            assert response.status_code in (401, 303), (role, response.status_code)
        elif "{" in path and role in ("outsider", "other_member"):
            # Outside one's scope, an object looks exactly like one that does not exist.
            assert response.status_code == 404, (role, response.status_code)
        else:
            assert response.status_code in (403, 404), (role, response.status_code)
