"""The demo gives a meaningful benchmark: named heat map for the officer, peer aggregates for the
facilitator and members of a Thai cluster, and a recurring indicator in the observatory."""

from fastapi.testclient import TestClient
from sqlmodel import Session

from app import demo
from app.auth import service as auth_service
from tests import factories
from tests.integration.benchmarks.world import refresh_rollups


def test_demo_benchmark(client: TestClient, session: Session) -> None:
    programme, _ = demo.seed(session)
    demo.seed_people(session, programme)
    tokens = {
        role: factories.api_token(session, auth_service.user_by_email(session, f"{role}@{demo.DEMO_DOMAIN}"))  # type: ignore[arg-type]
        for role in ("officer", "facilitator")
    }
    refresh_rollups(session)
    session.commit()

    def get(role: str, url: str) -> dict:  # type: ignore[type-arg]
        response = client.get(url, headers={"Authorization": f"Bearer {tokens[role]}"})
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    heat = get("officer", "/api/v1/benchmarks/heatmap")
    assert heat["template_key"] == "thai-food-cluster" and len(heat["rows"]) == 6
    assert all(r["values"]["overall"] is not None for r in heat["rows"])

    bangkok = next(r["cluster_id"] for r in heat["rows"] if r["cluster_name"].startswith("Thai Food Cluster"))
    profile = get("facilitator", f"/api/v1/benchmarks/clusters/{bangkok}")
    assert profile["mode"] == "aggregate"
    overall = next(m for m in profile["measures"] if m["measure"]["key"] == "overall")
    # The facilitator holds two Thai clusters; the four other sharing Thai clusters are the peers.
    assert overall["peers"]["n"] == 4
    assert [t["period"] for t in profile["trend"]] == ["2025-H1", "2025-H2"]  # closed rounds only
    assert all(t["peer_median"] is not None for t in profile["trend"])

    observatory = get("officer", "/api/v1/benchmarks/observatory?template=thai-food-cluster")
    accessibility = next(c for c in observatory["csfs"] if c["csf_key"] == "accessibility")
    assert accessibility["groups"][0]["clusters"] == 3
