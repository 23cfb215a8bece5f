"""Thai and Arabic subset fonts: carried by staff pages in those languages, never by a member's pages."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.web import static_url
from tests import factories

THAI_CSS, ARABIC_CSS = static_url("fonts/thai.css"), static_url("fonts/arabic.css")


def test_staff_pages_in_thai_or_arabic_carry_their_font(client: TestClient) -> None:
    thai = client.get("/login", headers={"Accept-Language": "th"}).text
    assert THAI_CSS in thai and ARABIC_CSS not in thai
    arabic = client.get("/login", headers={"Accept-Language": "ar-EG"}).text
    assert ARABIC_CSS in arabic and THAI_CSS not in arabic
    assert '<html lang="ar" dir="rtl">' in arabic
    for other in ("en", "es", "pt", "fr"):
        page = client.get("/login", headers={"Accept-Language": other}).text
        assert "/static/fonts/" not in page and 'dir="rtl"' not in page


def test_fonts_are_served_as_woff2_with_their_licence(client: TestClient) -> None:
    for script in ("thai", "arabic"):
        css = client.get(static_url(f"fonts/{script}.css"))
        assert css.status_code == 200 and "@font-face" in css.text
        for url in [part.split(")")[0] for part in css.text.split("url(")[1:]]:
            font = client.get(f"/static/fonts/{url}")
            assert font.status_code == 200 and font.content[:4] == b"wOF2", url
            assert len(font.content) < 40_000  # a subset of one script, not the whole font
    assert "SIL OPEN FONT LICENSE" in client.get("/static/fonts/OFL.txt").text


def test_a_members_pages_never_load_a_web_font(app: FastAPI, client: TestClient, session: Session) -> None:
    join = client.get("/join", headers={"Accept-Language": "th"}).text
    assert '<html lang="th">' in join
    assert "/static/fonts/" not in join
    cluster = factories.cluster(session, template_key="dti-cluster-monitoring")
    member = factories.participant(session, cluster, language="ar")
    round_ = factories.open_round(session, cluster)
    link = factories.member_link(session, member)
    session.commit()
    phone = TestClient(app)
    assert phone.get(link, follow_redirects=False).status_code == 303
    for path in ("/", f"/rounds/{round_.id}/answer/1", f"/rounds/{round_.id}/review"):
        page = phone.get(path).text
        assert '<html lang="ar" dir="rtl">' in page, path
        assert "/static/fonts/" not in page, path
