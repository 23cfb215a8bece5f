"""Templates load as immutable versions: idempotent, a changed file is a new version, clusters keep theirs."""

from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import Session

from app.config import ROOT
from app.errors import NotFound
from app.scorecards import service
from tests import factories

SHIPPED = {"thai-food-cluster", "scottish-enterprise-cluster", "dti-cluster-monitoring"}


def test_startup_loads_the_shipped_templates(admin_client: TestClient) -> None:
    listed = admin_client.get("/api/v1/templates").json()
    assert {t["key"] for t in listed} >= SHIPPED
    assert all(t["version"] for t in listed)


def test_reloading_unchanged_files_loads_nothing(session: Session) -> None:
    before = len(service.list_versions(session))
    assert service.load_directory(session, ROOT / "scorecards") == []
    assert len(service.list_versions(session)) == before


def test_edited_file_becomes_a_new_version_and_clusters_keep_theirs(session: Session, tmp_path: Path) -> None:
    cluster = factories.cluster(session)
    old_version_id = cluster.template_version_id
    document = yaml.safe_load((ROOT / "scorecards" / "thai-food-cluster.yaml").read_text(encoding="utf-8"))
    document["version"] = "2"
    document["perspectives"][0]["csfs"][0]["weight"] = 2
    (tmp_path / "thai-food-cluster.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")

    loaded = service.load_directory(session, tmp_path)

    assert [v.key for v in loaded] == ["thai-food-cluster"]
    assert loaded[0].id != old_version_id
    assert service.latest_version(session, "thai-food-cluster").id == loaded[0].id
    session.refresh(cluster)
    assert cluster.template_version_id == old_version_id


def test_template_detail_and_unknown_id(admin_client: TestClient) -> None:
    first = admin_client.get("/api/v1/templates").json()[0]
    detail = admin_client.get(f"/api/v1/templates/{first['id']}").json()
    assert detail["spec"]["key"] == first["key"]
    assert admin_client.get("/api/v1/templates/999999").status_code == 404


def test_a_versions_spec_parsed_before_is_had_without_reading_its_json(session: Session) -> None:
    """Pages that score a round need the spec on every request; its JSON is tens of kilobytes."""
    version = service.latest_version(session, "thai-food-cluster")
    assert version.id is not None
    expected = service.spec_of(version)  # parsed once in this process
    session.expunge_all()
    statements: list[str] = []
    engine = session.get_bind()
    listen = (engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    event.listen(*listen)
    try:
        assert service.spec_of_version(session, version.id) is expected
    finally:
        event.remove(*listen)
    assert len(statements) == 1 and "template_version.spec" not in statements[0], statements
    with pytest.raises(NotFound):
        service.spec_of_version(session, version.id + 10_000)
