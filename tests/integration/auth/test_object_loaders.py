"""The dependencies that load the object a path names (app/clusters/deps.py, app/rounds/deps.py,
app/responses/deps.py): an id that cannot exist is a 404 page on the facilitator's pages and a 422 in the JSON
API, which documents its validation errors; an id that could exist but does not is a 404 in both."""

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests import factories


@pytest.fixture
def staff(admin_client: TestClient) -> TestClient:
    return admin_client


@pytest.mark.parametrize("page", ["/clusters/{id}/setup", "/clusters/{id}/rounds", "/rounds/{id}/manage"])
@pytest.mark.parametrize("bad_id", ["0", "-1", "abc", "2147483648"])
def test_a_page_address_with_an_impossible_id_is_the_not_found_page(staff: TestClient, page: str, bad_id: str) -> None:
    reply = staff.get(page.format(id=bad_id))
    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith("text/html")
    assert "No such page." in reply.text


def test_a_page_address_with_an_unknown_id_is_the_not_found_page(staff: TestClient, session: Session) -> None:
    cluster = factories.cluster(session)
    session.commit()
    assert staff.get(f"/clusters/{cluster.id}/setup").status_code == 200
    reply = staff.get(f"/clusters/{(cluster.id or 0) + 1}/setup")
    assert reply.status_code == 404 and reply.headers["content-type"].startswith("text/html")
    assert "No such cluster." in reply.text


def test_the_api_answers_an_impossible_id_with_its_validation_error(staff: TestClient) -> None:
    reply = staff.get("/api/v1/clusters/0")
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "path.cluster_id"
    assert staff.get("/api/v1/clusters/999999").status_code == 404
