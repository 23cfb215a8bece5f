"""The one record a read of a comparison keeps: which peer groups were shown to whom (docs/disclosure.md, rule 5).

Everything else a GET or HEAD leaves as it was, byte for byte (tests/integration/auth/test_authorisation_matrix.py
proves it for every route and role); here the world has peers to show, so the record is written, and the test
proves it is the only thing written, that it is written once, and that a viewer shown nothing new writes nothing.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.benchmarks.models import BenchmarkRelease, BenchmarkReleaseGroup
from tests.integration.benchmarks.world import bearer, four_peers
from tests.support import database

RECORD = {BenchmarkRelease.__tablename__, BenchmarkReleaseGroup.__tablename__}


def _read_every_comparison(viewer: TestClient, cluster_id: int) -> None:
    """The API, the page, its fragments, the print view, the radar and the exports, with and without filters."""
    paths = [
        f"/api/v1/benchmarks/clusters/{cluster_id}",
        f"/api/v1/benchmarks/clusters/{cluster_id}/trend",
        f"/benchmarks/clusters/{cluster_id}",
        f"/benchmarks/clusters/{cluster_id}/print",
        f"/benchmarks/clusters/{cluster_id}/radar.svg",
        f"/benchmarks/clusters/{cluster_id}/profile.csv",
        f"/benchmarks/clusters/{cluster_id}/profile.xlsx",
        f"/benchmarks/clusters/{cluster_id}/trend.json",
    ]
    for path in paths:
        for params in ({}, {"same": ["country"]}):
            for verb in ("GET", "HEAD"):
                response = viewer.request(verb, path, params=params)
                # The JSON API answers GET only (405 to HEAD); pages answer both.
                assert response.status_code == 200 or (verb, response.status_code) == ("HEAD", 405), (verb, path)


def _without_record(contents: dict[str, Any]) -> dict[str, Any]:
    rest = {table: rows for table, rows in contents.items() if table not in RECORD}
    if "sequences" in rest:
        rest["sequences"] = {name: at for name, at in rest["sequences"].items() if not name.startswith(tuple(RECORD))}
    return rest


def test_showing_peers_writes_only_the_release_record_and_only_once(
    app: FastAPI, session: Session, engine: Engine
) -> None:
    scene = four_peers(app, session)
    cluster_id = scene.viewer.cluster.id
    assert cluster_id is not None
    before = database.contents(engine)
    assert not any(before[table] for table in RECORD)

    _read_every_comparison(scene.attacker, cluster_id)
    first = database.contents(engine)
    # What was shown is on record (the four peers, for this viewer) ...
    assert first[BenchmarkRelease.__tablename__] and first[BenchmarkReleaseGroup.__tablename__]
    assert scene.attacker.get(f"/api/v1/benchmarks/clusters/{cluster_id}").json()["measures"][0]["peers"]["n"] == 4
    # ... and nothing else moved: no row, no sequence outside the record.
    assert _without_record(first) == _without_record(before)

    # Shown again, nothing new is shown: nothing at all is written, the file itself is the same.
    file_before = database.sqlite_file(engine)
    _read_every_comparison(scene.attacker, cluster_id)
    assert database.contents(engine) == first
    assert database.sqlite_file(engine) == file_before


def test_a_viewer_shown_no_peers_writes_nothing(app: FastAPI, session: Session, engine: Engine) -> None:
    """The programme's agency sees the clusters by name, not through peer groups: no group is released to them."""
    scene = four_peers(app, session)
    agency = bearer(app, session, ("agency", scene.programme))
    session.commit()
    cluster_id = scene.viewer.cluster.id
    assert cluster_id is not None
    before, file_before = database.contents(engine), database.sqlite_file(engine)
    _read_every_comparison(agency, cluster_id)
    assert database.contents(engine) == before
    assert database.sqlite_file(engine) == file_before
