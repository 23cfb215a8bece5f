"""The demo seeds a programme whose scores come out of the API, and seeding twice changes nothing."""

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app import demo
from app.responses.models import Response


def test_demo_seeds_once_and_scores_come_out(admin_client: TestClient, session: Session) -> None:
    programme, created = demo.seed(session)
    session.commit()
    responses = session.exec(select(func.count()).select_from(Response)).one()
    _, again = demo.seed(session)
    assert created and not again
    assert session.exec(select(func.count()).select_from(Response)).one() == responses

    clusters = admin_client.get(f"/api/v1/clusters?programme_id={programme.id}").json()
    assert len(clusters) >= 3
    thai = next(c for c in clusters if c["name"].startswith("Thai Food Cluster"))
    rounds = admin_client.get(f"/api/v1/clusters/{thai['id']}/rounds").json()
    assert [r["status"] for r in rounds] == ["closed", "closed", "open"]
    scores = [admin_client.get(f"/api/v1/rounds/{r['id']}/scores").json() for r in rounds]
    assert all(s["overall"]["value"] is not None for s in scores)
    assert all(0 <= s["overall"]["value"] <= 100 for s in scores)
    assert scores[0]["responses_submitted"] == scores[0]["participants"]
    assert any(c["contested"] for c in scores[0]["csfs"])
