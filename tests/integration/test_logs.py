"""Member tokens and API tokens never reach the log: the real server's output, captured."""

from pathlib import Path

import httpx
from sqlmodel import Session

from app.auth import service as auth_service
from tests import factories
from tests.support.live_server import live_server


def test_no_token_in_the_server_log(tmp_path: Path) -> None:
    with live_server(tmp_path) as server:
        with Session(server.engine) as session:
            cluster = factories.cluster(session)
            member = factories.participant(session, cluster)
            factories.open_round(session, cluster)
            member_token = auth_service.issue_member_link(session, member.id or 0)
            api_token = factories.api_token(session, factories.user(session, grants=(("facilitator", cluster),)))
            session.commit()
        with httpx.Client(base_url=server.url) as client:
            assert client.get(f"/m/{member_token}").status_code == 303
            openrosa = {"X-OpenRosa-Version": "1.0"}
            assert client.get(f"/openrosa/m/{member_token}/formList", headers=openrosa).status_code == 200
            assert client.get("/m/not-a-real-token-but-secret-looking").status_code == 404
            headers = {"Authorization": f"Bearer {api_token}"}
            assert client.get("/api/v1/me", headers=headers).status_code == 200
            # A token pasted where it does not belong, e.g. into a query string, is not written out either.
            assert client.get("/api/v1/templates", params={"token": api_token}).status_code == 200
    log = server.log.read_text()
    assert "GET /m/[redacted]" in log and "GET /openrosa/m/[redacted]/formList" in log  # the requests are logged
    assert member_token not in log
    assert api_token not in log and api_token[:12] not in log
    assert "not-a-real-token-but-secret-looking" not in log
