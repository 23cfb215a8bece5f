"""Hypothesis against the answer import and the member-link endpoints: whatever arrives, the answer is a 2xx or a
4xx with a message, never a 5xx, and a refusal changes nothing (no answer stored, the old link still works)."""

import os
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlparse

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from tests import factories

EXAMPLES = int(os.environ.get("CLUSTERSCORE_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets)
expiries = st.one_of(
    instants.map(lambda d: d.isoformat()),
    st.sampled_from(["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999-23:59"]),
    st.text(max_size=40),
    st.integers(),
    st.none(),
)

cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(['"', '""', '"open', "yes", "no", "4", "-1", "1e309", "NaN", "\x00", "=1+1", "\r", "\u202e"]),
)
rows = st.lists(st.lists(cells, max_size=6), max_size=5)
separators = st.sampled_from([",", ";", "\t"])


@FUZZ
@given(expires_at=expiries)
def test_member_link_expiry_never_fails(admin_client: TestClient, session: Session, expires_at: object) -> None:
    participant, _round = _participant(session)
    old = urlparse(admin_client.post(f"/api/v1/participants/{participant}/link", json={}).json()["url"]).path
    response = admin_client.post(f"/api/v1/participants/{participant}/link", json={"expires_at": expires_at})
    assert response.status_code < 500, (expires_at, response.text)
    if response.status_code >= 400:
        assert response.json()["detail"]
        assert TestClient(admin_client.app).get(old, follow_redirects=False).status_code == 303
    else:
        expiry = datetime.fromisoformat(response.json()["expires_at"]) if response.json()["expires_at"] else None
        assert expiry is None or expiry.astimezone(UTC) > datetime.now(UTC)


@FUZZ
@given(table=rows, separator=separators, dry_run=st.booleans())
def test_imports_never_fail(
    admin_client: TestClient, session: Session, table: list[list[str]], separator: str, dry_run: bool
) -> None:
    participant, round_id = _participant(session)
    lines = [separator.join(["participant_id", "lean-manufacturing", "rating:cost-control"])]
    lines += [separator.join([str(participant), *row]) for row in table]
    content = "\n".join(lines).encode()
    response = admin_client.post(
        f"/api/v1/rounds/{round_id}/imports",
        params={"dry_run": str(dry_run).lower()},
        files={"file": ("answers.csv", content, "text/csv")},
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400 or dry_run:
        assert factories.stored_answers(session, participant) == (None, {})


def _participant(session: Session) -> tuple[int, int]:
    """A participant of a new cluster with an open round: (participant id, round id)."""
    cluster = factories.cluster(session)
    participant = factories.participant(session, cluster)
    round_ = factories.open_round(session, cluster)
    session.commit()
    return participant.id or 0, round_.id or 0


def test_the_far_expiry_edge(admin_client: TestClient, session: Session) -> None:
    """9999-12-31T23:59:59-12:00 is the year 10000 in UTC: a 422 with a message, not a 500. The boundary: just
    under ten years is accepted, just over is refused."""
    participant, _round = _participant(session)
    url = f"/api/v1/participants/{participant}/link"
    far = admin_client.post(url, json={"expires_at": "9999-12-31T23:59:59-12:00"})
    assert far.status_code == 422 and "ten years" in far.json()["detail"]
    now = datetime.now(UTC)
    assert admin_client.post(url, json={"expires_at": (now + timedelta(days=3652)).isoformat()}).status_code == 201
    assert admin_client.post(url, json={"expires_at": (now + timedelta(days=3654)).isoformat()}).status_code == 422
    assert admin_client.post(url, json={"expires_at": (now - timedelta(minutes=1)).isoformat()}).status_code == 422
