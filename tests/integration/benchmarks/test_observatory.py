"""The observatory: cluster-defined indicators by CSF, alike wordings grouped, promotion to a template version."""

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.clusters import service as cluster_service
from app.clusters.schemas import CustomKpiCreate
from app.config import ROOT, Settings
from app.scorecards import service as scorecard_service
from app.scorecards.parsing import parse_template
from tests import factories


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """A scratch copy of the shipped templates, so that promotion writes nowhere near the repository."""
    directory = tmp_path / "scorecards"
    shutil.copytree(ROOT / "scorecards", directory)
    return Settings(environment="test", database_url=database_url, scorecards_dir=directory)


def _custom(session: Session, cluster: object, key: str, title: str, csf: str = "accessibility") -> None:
    cluster_service.add_custom_kpi(
        session,
        cluster,
        CustomKpiCreate(key=key, csf_key=csf, title=title, kpi_type="count"),
        actor="test",  # type: ignore[arg-type]
    )


def test_observatory_groups_alike_indicators_and_promotes_them(
    client: TestClient, session: Session, settings: Settings
) -> None:
    programme, elsewhere = factories.programme(session), factories.programme(session)
    a, b, c = (factories.cluster(session, in_programme=programme, shares_benchmarks=True) for _ in range(3))
    hidden = factories.cluster(session, in_programme=elsewhere, shares_benchmarks=True)
    _custom(session, a, "export-missions", "Number of joint export missions")
    _custom(session, b, "missions", "Joint export missions organised")
    _custom(session, c, "price-deals", "Price agreements with growers", csf="supply-chain-integration")
    _custom(session, hidden, "secret", "Joint export missions abroad")
    user = factories.user(session, grants=(("agency", programme),))
    admin = factories.user(session, is_admin=True)
    agency = {"Authorization": f"Bearer {factories.api_token(session, user)}"}
    admin_h = {"Authorization": f"Bearer {factories.api_token(session, admin)}"}
    session.commit()

    body = client.get("/api/v1/benchmarks/observatory?template=thai-food-cluster", headers=agency).json()
    by_csf = {c["csf_key"]: c for c in body["csfs"]}
    assert set(by_csf) == {"accessibility", "supply-chain-integration"}
    (missions,) = by_csf["accessibility"]["groups"]  # the other programme's indicator is not shown
    assert missions["clusters"] == 2
    assert [i["title"] for i in missions["indicators"]] == [
        "Number of joint export missions",
        "Joint export missions organised",
    ]
    assert client.get("/benchmarks/observatory?template=thai-food-cluster", headers=agency).status_code == 200

    chosen = [missions["representative"]["id"], by_csf["supply-chain-integration"]["groups"][0]["representative"]["id"]]
    download = client.get(
        "/benchmarks/observatory/promote.yaml", params={"template": "thai-food-cluster", "kpi": chosen}, headers=agency
    )
    assert download.status_code == 200
    assert 'filename="thai-food-cluster-v1.3.yaml"' in download.headers["content-disposition"]
    spec = parse_template(download.content, source_name="promoted.yaml")
    assert spec.version == "1.3"
    accessibility = spec.csf("accessibility")
    assert accessibility is not None
    assert accessibility.kpis[-1].key == "number-of-joint-export-missions"
    assert accessibility.kpis[-1].type == "count"
    original = scorecard_service.spec_of(scorecard_service.latest_version(session, "thai-food-cluster"))
    assert len(list(spec.iter_kpis())) == len(list(original.iter_kpis())) + 2

    # Only administrators write into the server's scorecards directory.
    form = {"template": "thai-food-cluster", "kpi": [str(i) for i in chosen], "action": "write"}
    assert client.post("/benchmarks/observatory/promote", data=form, headers=agency).status_code == 403
    assert (
        client.get(
            "/benchmarks/observatory/promote.yaml",
            params={"template": "thai-food-cluster", "kpi": [99999]},
            headers=agency,
        ).status_code
        == 404
    )
    written = client.post("/benchmarks/observatory/promote", data=form, headers=admin_h, follow_redirects=False)
    assert written.status_code == 303
    path = settings.scorecards_dir / "thai-food-cluster-v1.3.yaml"
    assert parse_template(path.read_bytes(), source_name=str(path)).version == "1.3"
    session.commit()  # end the test's read transaction: SQLite keeps its snapshot until then
    session.expire_all()
    assert scorecard_service.latest_version(session, "thai-food-cluster").version == "1.3"
    # A file of the next version's name already there (written by hand, say) is never overwritten: refused in
    # the reader's language, the file as it was, no version loaded.
    taken = settings.scorecards_dir / "thai-food-cluster-v1.4.yaml"
    taken.write_text("# kept by hand\n", encoding="utf-8")
    again = client.post("/benchmarks/observatory/promote", data=form, headers={**admin_h, "Accept-Language": "fr"})
    assert again.status_code == 422
    assert "thai-food-cluster-v1.4.yaml existe déjà" in again.text
    assert taken.read_text(encoding="utf-8") == "# kept by hand\n"
    session.expire_all()
    assert scorecard_service.latest_version(session, "thai-food-cluster").version == "1.3"


def test_promotion_needs_a_choice(client: TestClient, session: Session) -> None:
    user = factories.user(session, is_admin=True)
    headers = {"Authorization": f"Bearer {factories.api_token(session, user)}"}
    session.commit()
    response = client.post("/benchmarks/observatory/promote", data={"template": "thai-food-cluster"}, headers=headers)
    assert response.status_code == 422


def test_groups_across_languages_count_clusters_and_follow_values(client: TestClient, session: Session) -> None:
    """Cognate wordings in English, Spanish and Portuguese form one group used by three clusters; each indicator's
    latest value and change comes from its cluster's rounds, and the group counts which way they moved."""
    from app.rounds import service as round_service
    from app.rounds.schemas import KpiValueSet
    from tests.integration.benchmarks.world import H1_2025, H2_2025, rate_round

    programme = factories.programme(session)
    clusters = [factories.cluster(session, in_programme=programme, shares_benchmarks=True) for _ in range(4)]
    wordings = [
        "Joint export missions",
        "Misiones conjuntas de exportación",
        "Missões conjuntas de exportação",
        "Price agreements with growers",
    ]
    moves = [(2.0, 5.0), (4.0, 1.0), (3.0, 3.0), (1.0, 2.0)]
    for cluster, wording, (before, after) in zip(clusters, wordings, moves, strict=True):
        _custom(session, cluster, "own", wording)
        member = factories.participant(session, cluster)
        for period, value in ((H1_2025, before), (H2_2025, after)):
            round_ = rate_round(session, cluster, [member], [3], period=period, close=False)
            round_service.set_kpi_value(session, round_, "own", KpiValueSet(value=value), actor="test")
    user = factories.user(session, grants=(("agency", programme),))
    agency = {"Authorization": f"Bearer {factories.api_token(session, user)}"}
    session.commit()

    body = client.get("/api/v1/benchmarks/observatory?template=thai-food-cluster", headers=agency).json()
    (csf,) = body["csfs"]
    missions, prices = csf["groups"]
    assert [i["title"] for i in missions["indicators"]] == wordings[:3] and missions["clusters"] == 3
    assert (missions["rising"], missions["falling"], missions["steady"]) == (1, 1, 1)
    assert [(i["period"], i["value"], i["change"]) for i in missions["indicators"]] == [
        ("2025-H2", 5.0, 3.0),
        ("2025-H2", 1.0, -3.0),
        ("2025-H2", 3.0, 0.0),
    ]
    assert prices["clusters"] == 1 and prices["rising"] == 1
    page = client.get("/benchmarks/observatory?template=thai-food-cluster", headers=agency)
    assert page.status_code == 200 and "Missões conjuntas de exportação" in page.text
