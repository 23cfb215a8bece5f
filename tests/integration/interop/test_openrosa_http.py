"""OpenRosa over real HTTP (uvicorn): the headers a server adds itself are as the spec wants them,
one Date on every reply (ClusterScore once sent its own beside uvicorn's)."""

from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
from sqlmodel import Session

from app.auth import service as auth_service
from tests import factories
from tests.integration.interop.test_openrosa import FORMS, OPENROSA, PLAN, fill, multipart
from tests.support.live_server import LiveServer, live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("openrosa")) as running:
        yield running


def _one_date(reply: httpx.Response) -> None:
    assert len(reply.headers.get_list("date")) == 1, reply.headers
    assert reply.headers["date"].endswith("GMT")
    assert reply.headers["X-OpenRosa-Version"] == "1.0"
    assert int(reply.headers["X-OpenRosa-Accept-Content-Length"]) > 0


def test_every_reply_has_one_date_header(server: LiveServer, tmp_path: Path) -> None:
    with Session(server.engine) as session:
        cluster = factories.cluster(session)
        member = factories.participant(session, cluster)
        factories.open_round(session, cluster)
        token = auth_service.issue_member_link(session, member.id or 0)
        session.commit()
    base = f"{server.url}/openrosa/m/{token}"
    with httpx.Client(headers=OPENROSA) as http:
        listing = http.get(f"{base}/formList")
        _one_date(listing)
        form = ElementTree.fromstring(
            http.get(ElementTree.fromstring(listing.content).findtext(f"{FORMS}xform/{FORMS}downloadUrl") or "").content
        )
        _one_date(http.head(f"{base}/submission"))
        body, content_type = multipart({"xml_submission_file": ("submission.xml", fill(form, {PLAN: "yes"}, "uuid:h"))})
        sent = http.post(f"{base}/submission", content=body, headers={"Content-Type": content_type})
        assert sent.status_code == 201
        _one_date(sent)
        again = http.post(f"{base}/submission", content=body, headers={"Content-Type": content_type})
        assert again.status_code == 201
        _one_date(again)
        bad_token = http.get(f"{server.url}/openrosa/m/nope/formList")
        assert bad_token.status_code == 401
        _one_date(bad_token)
