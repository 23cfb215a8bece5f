"""PDF reports made on the server by WeasyPrint from the print views: read back with PDFium (pypdfium2), page by
page as text (page numbers, the date, every comment) and as images (pages are not blank). The images are kept in
test-output/reports/ for a person to look at."""

from datetime import date
from pathlib import Path

import pypdfium2
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.clusters import service as cluster_service
from app.config import ROOT
from app.dashboard import service as dashboard_service
from app.rounds import service as round_service
from app.rounds.schemas import RoundCreate, RoundStatus
from app.timeutil import utcnow
from tests import factories
from tests.integration.benchmarks.world import H1_2025, H2_2025, rate_round, refresh_rollups
from tests.integration.dashboard.test_facilitator_pages import COSTS, LOANS, answer

PAGES = ROOT / "test-output" / "reports"


def _bearer(session: Session, *grants: tuple[str, object]) -> dict[str, str]:
    user = factories.user(session, grants=grants)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {factories.api_token(session, user)}"}


def _read(pdf: bytes, name: str, *, images: bool = True) -> list[str]:
    """Each page's text; with `images`, each page rendered to PNG, checked not to be blank and kept for looking at."""
    PAGES.mkdir(parents=True, exist_ok=True)
    document = pypdfium2.PdfDocument(pdf)
    assert document.get_formtype() == 0 and len(document) > 0
    texts = []
    for i, page in enumerate(document):
        texts.append(page.get_textpage().get_text_range())
        if not images:
            continue
        image = page.render(scale=1.5).to_pil().convert("L")
        path = PAGES / f"{name}-{i + 1}.png"
        image.save(path)
        # More ink than the footer alone (the date and "Page n of N": about 0.1% of the page) leaves.
        inked = sum(image.histogram()[:200])
        assert inked > image.width * image.height * 0.005, f"{path} is (nearly) blank"
    return texts


def _numbered(texts: list[str], words: str) -> None:
    """Every page says which it is of how many, in the reader's words ("Page {i} of {n}")."""
    n = len(texts)
    for i, text in enumerate(texts, start=1):
        assert words.format(i=i, n=n) in " ".join(text.split()), f"page {i}: {text[-200:]!r}"


def test_round_report_has_every_comment_page_numbers_and_the_date(client: TestClient, session: Session) -> None:
    cluster = factories.cluster(session, name="Chiang Mai Food Cluster")
    members = [factories.participant(session, cluster, organisation=f"Firm {i}") for i in range(4)]
    earlier = round_service.create_round(session, cluster, RoundCreate(label="2025 H2"))
    round_service.set_status(session, earlier, RoundStatus.open, actor="t")
    csfs = [c.key for p in cluster_service.scorecard(session, cluster).perspectives for c in p.csfs]
    for member, rating in zip(members, (2, 3, 3, 4), strict=True):
        answer(session, earlier, member, dict.fromkeys(csfs, rating))
    round_service.set_status(session, earlier, RoundStatus.closed, actor="t")
    current = round_service.create_round(session, cluster, RoundCreate(label="2026 H1"))
    round_service.set_status(session, current, RoundStatus.open, actor="t")
    # Costs split the room (contested, shown first); loans nearly agree: both topics' comments must be printed.
    for i, (member, cost, loans) in enumerate(zip(members, (1, 1, 5, 5), (4, 4, 4, 5), strict=True)):
        ratings = {**{k: 2 + (len(k) + i) % 4 for k in csfs}, COSTS: cost, LOANS: loans}
        answer(session, current, member, ratings, comment=f"Reason number {i} ({cost}/{loans})")
    dashboard_service.add_action(
        session, current, title="Call the bank", owner="Nok", due_date=date(2027, 1, 15), csf_key=LOANS, actor="t"
    )
    dashboard_service.add_note(session, current, csf_key=COSTS, text="Buy packaging together", actor="t")
    facilitator = _bearer(session, ("facilitator", cluster))
    observer = _bearer(session, ("observer", cluster))
    outsider = _bearer(session, ("facilitator", factories.cluster(session)))
    session.commit()

    printed = client.get(f"/rounds/{current.id}/print", headers=facilitator).text
    topics = printed.split('class="topics"')[1]
    assert "<details" not in topics  # a closed <details> prints nothing of what it holds
    assert all(f"Reason number {i}" in topics for i in range(4))

    response = client.get(f"/rounds/{current.id}/report.pdf", headers=facilitator)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="clusterscore-round-{current.id}.pdf"'
    texts = _read(response.content, "round-en")
    assert len(texts) >= 2
    _numbered(texts, "Page {i} of {n}")
    today = utcnow().date()
    assert all(f"{today:%B} {today.day}, {today.year}" in text for text in texts)
    everything = " ".join(" ".join(texts).split())
    for i, (cost, loans) in enumerate(zip((1, 1, 5, 5), (4, 4, 4, 5), strict=True)):
        assert f"Reason number {i} ({cost}/{loans})" in everything
    assert everything.count("Reason number 0 (1/4)") == len(csfs)  # the comment goes with each of its ratings
    assert "Call the bank" in everything and "Buy packaging together" in everything
    assert "Scores over the rounds" in everything and "Chiang Mai Food Cluster" in everything

    # In the reader's language, numbers and dates as they write them.
    spanish = _read(
        client.get(f"/rounds/{current.id}/report.pdf", headers={**facilitator, "Accept-Language": "es"}).content,
        "round-es",
        images=False,
    )
    _numbered(spanish, "Página {i} de {n}")
    assert "15 ene 2027" in " ".join(spanish)

    # Authorisation is the print view's: an observer gets the report without members' comments; others nothing.
    observed = client.get(f"/rounds/{current.id}/report.pdf", headers=observer).content
    seen = " ".join(_read(observed, "round-observer", images=False))
    assert "Call the bank" in seen and "Reason number" not in seen
    assert client.get(f"/rounds/{current.id}/report.pdf", headers=outsider).status_code == 404
    anonymous = client.get(f"/rounds/{current.id}/report.pdf", follow_redirects=False)
    assert anonymous.status_code in (303, 401) and not anonymous.content.startswith(b"%PDF")


def test_benchmark_report_per_cluster_for_the_agency(client: TestClient, session: Session) -> None:
    programme = factories.programme(session)
    clusters = []
    for name, ratings in {
        "Viewed": (3, 4),
        "Peer A": (1, 2),
        "Peer B": (2, 5),
        "Peer C": (4, 3),
        "Peer D": (5, 5),
    }.items():
        cluster = factories.cluster(session, in_programme=programme, name=name, shares_benchmarks=True)
        members = [factories.participant(session, cluster) for _ in range(2)]
        for period, rating in zip((H1_2025, H2_2025), ratings, strict=True):
            rate_round(session, cluster, members, [rating, rating], period=period)
        clusters.append(cluster)
    agency = _bearer(session, ("agency", programme))
    outsider = _bearer(session, ("agency", factories.programme(session)))
    refresh_rollups(session)
    session.commit()
    viewed = clusters[0]

    page = client.get(f"/benchmarks/clusters/{viewed.id}/print", headers=agency).text
    assert 'id="trend-chart"' in page and "data:image/svg+xml;base64," in page
    response = client.get(f"/benchmarks/clusters/{viewed.id}/report.pdf", headers=agency)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    texts = _read(response.content, "benchmark-en")
    _numbered(texts, "Page {i} of {n}")
    everything = " ".join(" ".join(texts).split())
    assert "Viewed: benchmark report, 2025-H2" in everything
    assert "Trend over rounds" in everything and "Position among the peers" in everything
    thai = _read(
        client.get(f"/benchmarks/clusters/{viewed.id}/report.pdf", headers={**agency, "Accept-Language": "th"}).content,
        "benchmark-th",
    )
    _numbered(thai, "หน้า {i} จาก {n}")
    assert client.get(f"/benchmarks/clusters/{viewed.id}/report.pdf", headers=outsider).status_code == 404


@pytest.fixture(autouse=True, scope="module")
def _no_stale_pages() -> None:
    for old in Path(PAGES).glob("*.png") if PAGES.exists() else []:
        old.unlink()
