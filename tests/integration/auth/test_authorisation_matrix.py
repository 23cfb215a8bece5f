"""Every route, as every role, inside and outside its scope.

The table below is the specification of who may do what. The first test fails when a route exists
that the table does not cover, so a new route cannot ship without an authorisation rule.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.auth import service as auth_service
from app.auth.models import Grant
from app.clusters import service as cluster_service
from app.dashboard import service as dashboard_service
from app.proposals import service as proposal_service
from app.proposals.schemas import ProposalCreate
from app.responses import service as response_service
from tests import factories
from tests.support import database

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
AGENCY = {"admin", "agency"}  # the programme's agency staff and administrators
PEOPLE = AGENCY | {"outsider"}  # the people pages: any agency staff (each sees their own programmes)

# (method, path) -> (roles allowed, json body or None)
MATRIX: dict[tuple[str, str], tuple[set[str], dict[str, Any] | None]] = {
    ("GET", "/api/v1/me"): (PUBLIC, None),
    ("POST", "/api/v1/me/tokens"): (STAFF, {"name": "script"}),
    ("GET", "/api/v1/me/tokens"): (STAFF, None),
    # {token_id} is the admin's own token: anyone else's answers 404, like a token that does not exist.
    ("DELETE", "/api/v1/me/tokens/{token_id}"): ({"admin"}, None),
    ("GET", "/account/tokens"): (STAFF, None),
    ("POST", "/account/tokens"): (STAFF, None),
    ("POST", "/account/tokens/{token_id}/revoke"): ({"admin"}, None),
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
    # Sector, country, region, typology and stage are agency-only (tests/integration/benchmarks/test_attacks.py).
    ("PATCH", "/api/v1/clusters/{cluster_id}"): (MANAGE, {"name": "Renamed"}),
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
    ("GET", "/api/v1/benchmarks/clusters/{cluster_id}/trend"): (RESULTS, None),
    ("GET", "/api/v1/benchmarks/changes"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/heatmap.csv"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/heatmap.xlsx"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/distribution"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/distribution.csv"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/distribution.xlsx"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/distribution.json"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/heatmap.json"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/changes"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/changes.csv"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/changes.xlsx"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/changes.json"): (BENCHMARK_AGENCY, None),
    ("GET", "/benchmarks/clusters/{cluster_id}/trend.{fmt}"): (RESULTS, None),
    ("GET", "/benchmarks/clusters/{cluster_id}"): (RESULTS, None),
    ("GET", "/benchmarks/clusters/{cluster_id}/radar.svg"): (RESULTS, None),
    ("GET", "/benchmarks/clusters/{cluster_id}/print"): (RESULTS, None),
    ("GET", "/benchmarks/clusters/{cluster_id}/report.pdf"): (RESULTS, None),
    ("GET", "/benchmarks/clusters/{cluster_id}/profile.{fmt}"): (RESULTS, None),
    ("POST", "/benchmarks/clusters/{cluster_id}/sharing"): (MANAGE, None),
    ("GET", "/benchmarks/observatory"): (BENCHMARK_AGENCY, None),
    # Without a chosen indicator both answer 422 to those allowed; writing a file needs an admin.
    ("GET", "/benchmarks/observatory/promote.yaml"): (BENCHMARK_AGENCY, None),
    ("POST", "/benchmarks/observatory/promote"): (BENCHMARK_AGENCY, None),
    # The enumerator form lists the cluster's members by name: only for those who manage it.
    ("GET", "/api/v1/rounds/{round_id}/xlsform"): (MANAGE, None),
    # Answer imports: without a file the handler answers 422, so the policy is all this checks.
    ("POST", "/api/v1/rounds/{round_id}/imports"): (MANAGE, None),
    # OpenRosa for ODK Collect: the member token in the path is the credential (no cookie, no CSRF).
    ("GET", "/openrosa/m/{token}/formList"): (PUBLIC, None),
    ("GET", "/openrosa/m/{token}/forms/{round_id}"): (PUBLIC, None),
    ("GET", "/openrosa/m/{token}/submission"): (PUBLIC, None),
    ("POST", "/openrosa/m/{token}/submission"): (PUBLIC, None),
    # OpenRosa for a staff device: HTTP Basic only (no cookie, no bearer token), so every client here gets 401;
    # who may log in there is tested role by role in tests/integration/interop/test_openrosa.py.
    ("GET", "/openrosa/clusters/{cluster_id}/formList"): (PUBLIC, None),
    ("GET", "/openrosa/clusters/{cluster_id}/forms/{round_id}"): (PUBLIC, None),
    ("GET", "/openrosa/clusters/{cluster_id}/submission"): (PUBLIC, None),
    ("POST", "/openrosa/clusters/{cluster_id}/submission"): (PUBLIC, None),
    ("GET", "/"): (PUBLIC, None),
    ("GET", "/login"): (PUBLIC, None),
    ("POST", "/login"): (PUBLIC, None),
    ("POST", "/logout"): (PUBLIC, None),
    ("GET", "/account/password"): (STAFF, None),
    ("POST", "/account/password"): (STAFF, None),
    ("GET", "/m/{token}"): (PUBLIC, None),
    ("POST", "/m/{token}"): (PUBLIC, None),
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
    ("GET", "/rounds/{round_id}/report.pdf"): (STAFF_READ, None),
    ("GET", "/rounds/{round_id}/export/answers.csv"): (RESPONSES, None),
    ("GET", "/rounds/{round_id}/export/answers-wide.csv"): (RESPONSES, None),
    ("GET", "/rounds/{round_id}/export/scores.csv"): (STAFF_READ, None),
    ("GET", "/rounds/{round_id}/export.xlsx"): (RESPONSES, None),
    # Setting a cluster up (issue 21).
    ("GET", "/programmes/{programme_id}/clusters/new"): (AGENCY, None),
    ("POST", "/programmes/{programme_id}/clusters"): (AGENCY, None),
    ("GET", "/clusters/{cluster_id}/edit"): (AGENCY, None),
    ("POST", "/clusters/{cluster_id}/edit"): (AGENCY, None),
    ("GET", "/clusters/{cluster_id}/participants"): (MANAGE, None),
    ("POST", "/clusters/{cluster_id}/participants"): (MANAGE, None),
    ("GET", "/clusters/{cluster_id}/participants/import"): (MANAGE, None),
    ("POST", "/clusters/{cluster_id}/participants/import"): (MANAGE, None),
    ("POST", "/participants/{participant_id}"): (MANAGE, None),
    ("POST", "/participants/{participant_id}/active"): (MANAGE, None),
    ("GET", "/rounds/{round_id}/close"): (MANAGE, None),
    ("GET", "/rounds/{round_id}/registrations"): (MANAGE, None),
    ("POST", "/rounds/{round_id}/registrations/merge"): (MANAGE, None),
    ("GET", "/rounds/{round_id}/member-links"): (MANAGE, None),
    # People and roles: administrators, and agency staff within their programmes (the outsider's is another).
    ("GET", "/people"): (PEOPLE, None),
    ("POST", "/people/invite"): (PEOPLE, None),
    ("POST", "/grants/{grant_id}"): (AGENCY, None),
    ("POST", "/grants/{grant_id}/revoke"): (AGENCY, None),
    ("GET", "/api/v1/people"): (PEOPLE, None),
    ("POST", "/api/v1/people/invitations"): (
        AGENCY,
        {"email": "invited@example.org", "role": "observer", "cluster_id": "{cluster_id}"},
    ),
    ("PATCH", "/api/v1/grants/{grant_id}"): (AGENCY, {"role": "observer"}),
    ("DELETE", "/api/v1/grants/{grant_id}"): (AGENCY, None),
    ("GET", "/account/setup/{token}"): (PUBLIC, None),
    ("POST", "/account/setup/{token}"): (PUBLIC, None),
}
# Routes that use their object up (a revoked role is gone): it is given back, same id, before each allowed role.
CONSUMING = {("POST", "/grants/{grant_id}/revoke"), ("DELETE", "/api/v1/grants/{grant_id}")}
# Names an observer must never read (no participant names, per-person status or proposer identity).
MEMBER_ORGANISATION = "Quietly Observed Foods Ltd"
MEMBER_PERSON = "Ana Confidential"
REGISTERED_ORGANISATION = "Walk-in Registrant Co"
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
    restore_grant: Callable[[], None]


@pytest.fixture
def world(app: FastAPI, client: TestClient, session: Session) -> World:
    programme = factories.programme(session)
    cluster = factories.cluster(session, in_programme=programme)
    other = factories.cluster(session)  # another programme
    member = factories.participant(session, cluster, organisation=MEMBER_ORGANISATION, person_name=MEMBER_PERSON)
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
    registered = factories.participant(session, cluster, organisation=REGISTERED_ORGANISATION)
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
    admin_token_id = auth_service.api_tokens(session, users["admin"])[0].id
    # A role no client acts with, for the routes that change or revoke roles.
    spare = auth_service.grant_on(session, factories.user(session), "observer", cluster, actor="test")
    spare_facts = spare.model_dump()
    session.commit()

    def restore_grant() -> None:
        session.merge(Grant(**spare_facts))
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
        "token_id": admin_token_id,
        "grant_id": spare.id,
    }
    return World(ids=ids, clients=clients, restore_grant=restore_grant)


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
        if (method, path) in CONSUMING and role in allowed:
            world.restore_grant()
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


def test_observers_read_aggregates_only_on_every_page(world: World) -> None:
    """Every GET an observer may make, pages and API alike: no participant's name, no one's submission status,
    no proposer. The same pages show the names to a facilitator, so the names are there to be found."""
    secrets = (MEMBER_ORGANISATION, MEMBER_PERSON, REGISTERED_ORGANISATION)
    round_page = f"/rounds/{world.ids['round_id']}/manage"
    facilitator_view = world.clients["facilitator"].get(round_page).text
    assert all(name in facilitator_view for name in secrets)
    assert (
        MEMBER_ORGANISATION in world.clients["facilitator"].get(f"/clusters/{world.ids['cluster_id']}/proposals").text
    )
    observer = world.clients["observer"]
    read = 0
    for (method, path), (allowed, _body) in sorted(MATRIX.items()):
        # OpenRosa answers devices by their own credentials (tests/integration/interop/test_openrosa.py).
        if method != "GET" or "observer" not in allowed or path.startswith("/openrosa/") or "{token}" in path:
            continue
        response = observer.get(path.format(**world.ids))
        assert response.status_code == 200, (path, response.status_code)
        text = response.content.decode("utf-8", errors="replace")
        for name in secrets:
            assert name not in text, (path, name)
        read += 1
    assert read >= 20
    page = observer.get(round_page).text
    assert "answer-submitted" not in page and "answer-draft" not in page and "answer-none" not in page
    assert "of 2 participants submitted" in page  # the aggregate is there


def test_no_get_or_head_request_of_any_role_changes_the_database(world: World, engine: Engine) -> None:
    """GET and HEAD never write: every GET route of the matrix, as every role, leaves every row (and on SQLite
    the file itself) as it was, benchmark pages included (their roll-ups are refreshed in the background).
    This world shows no peer group; the one record showing one keeps is tested in
    tests/integration/benchmarks/test_release_record.py."""
    before, file_before = database.contents(engine), database.sqlite_file(engine)
    asked = 0
    for method, path in sorted(MATRIX):
        if method != "GET":
            continue
        for role, http in world.clients.items():
            for verb in ("GET", "HEAD"):
                response = http.request(verb, path.format(**world.ids), follow_redirects=False)
                assert response.status_code < 500, (verb, path, role, response.text)
                asked += 1
    assert asked > 400
    assert database.contents(engine) == before
    assert database.sqlite_file(engine) == file_before
