"""The demo seeds a programme whose scores come out of the API, and seeding twice changes nothing."""

import os
import re
import subprocess
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from app import demo
from app.auth import service as auth_service
from app.benchmarks import service as benchmark_service
from app.benchmarks.models import BenchmarkValue
from app.clusters import service as cluster_service
from app.clusters.models import Participant
from app.config import ROOT
from app.responses import service as response_service
from app.responses.models import Answer, Response
from app.rounds import service as round_service


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


def test_no_per_firm_figure_of_the_demo_counts_more_yes_than_firms_asked(session: Session) -> None:
    """Castellón: associations and institutes answered "Has your company ...?" and 7 yes / 6 firms made 1.2."""
    programme, _ = demo.seed(session)
    clusters = cluster_service.list_clusters(session, programme_id=programme.id)
    benchmark_service.refresh(session, [c.id or 0 for c in clusters])
    castellon = next(c for c in clusters if c.name.startswith("Castellón"))
    spec = cluster_service.template_spec(session, castellon)
    per_firm = [f"kpi:{k.key}" for _, _, k in spec.iter_kpis() if k.per_member and k.aggregate == "count_yes"]
    values = session.exec(
        select(BenchmarkValue.value).where(
            BenchmarkValue.cluster_id == castellon.id, col(BenchmarkValue.measure).in_(per_firm)
        )
    ).all()
    assert per_firm and values
    assert all(0 <= v <= 1 for v in values)
    firms_only = [k.key for _, _, k in spec.iter_kpis() if k.asked_of == "firms"]
    institutions = [
        p.id for p in cluster_service.list_participants(session, castellon) if p.organisation_type != "firm"
    ]
    answered = session.exec(
        select(func.count())
        .select_from(Answer)
        .join(Response, col(Response.id) == Answer.response_id)
        .where(col(Response.participant_id).in_(institutions), col(Answer.kpi_key).in_(firms_only))
    ).one()
    assert institutions and answered == 0


def test_demo_links_lead_with_members_who_have_not_answered_the_open_round(session: Session) -> None:
    """A newcomer trying the demo opens a fresh form: the first links printed are of members without a
    submitted answer in their cluster's open round, at least one in every cluster."""
    programme, _ = demo.seed(session)
    links = demo.member_links(session, programme, base_url="http://127.0.0.1:8031")
    clusters = cluster_service.list_clusters(session, programme_id=programme.id)

    def has_submitted(url: str) -> bool:
        participant_id = auth_service.participant_for_token(session, url.rsplit("/m/", 1)[1])
        assert participant_id is not None
        participant = session.get(Participant, participant_id)
        assert participant is not None
        open_round = next(
            r
            for r in round_service.list_rounds(session, cluster_service.get_cluster(session, participant.cluster_id))
            if r.status == "open"
        )
        response = response_service.find_response(session, open_round, participant)
        return response is not None and response.submitted_at is not None

    submitted = [has_submitted(link.url) for link in links]
    assert submitted == [link.answered for link in links]
    assert submitted == sorted(submitted) and not submitted[0]  # the fresh forms first
    assert {link.cluster for link in links if not link.answered} == {c.name for c in clusters}
    assert any(submitted)  # and one per cluster that shows the thank-you page
    assert all(link.url.startswith("http://127.0.0.1:8031/m/") for link in links)


def test_make_run_port_is_the_address_the_demo_prints(tmp_path: Path) -> None:
    """`make run PORT=8031` prints links on port 8031 (PUBLIC_URL defaults to make's HOST and PORT)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PUBLIC_URL", "MAKEFLAGS", "MAKELEVEL")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.db'}"
    # -o install: the virtualenv is there already; make only migrates and seeds the scratch database.
    out = subprocess.run(
        ["make", "-s", "-o", "install", "demo", "PORT=8031"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    urls = re.findall(r"https?://\S+", out)
    assert len(urls) > 10 and all(url.startswith("http://127.0.0.1:8031/") for url in urls), out
    dry_run = subprocess.run(["make", "-n", "run", "PORT=8031"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert "starting on http://127.0.0.1:8031/" in dry_run.stdout and "--port 8031" in dry_run.stdout
