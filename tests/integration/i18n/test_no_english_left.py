"""Every page in every language: no interface sentence left in English, no stored code shown as it is stored.

The demo programme is seeded (clusters on every template, rounds, answers, notes, actions, benchmarks) and
every page reachable by links is read, by an administrator and by a member, in each catalogue language.
A text on the page that is exactly an English message of the catalogue (one that the language translates)
is a string that skipped gettext; a typology, stage or status code, or a "csf:" prefix, is a code that
skipped its vocabulary. Text inside an element with its own `lang` (a template label shown in the template's
language, a member's proposal) is in that language on purpose and is not read.
"""

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import ClassVar

import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlmodel import Session

from app import demo
from app.benchmarks import service as benchmark_service
from app.clusters import service as cluster_service
from app.clusters.schemas import Stage, Typology
from app.dashboard.logic import ACTION_STATUSES
from app.i18n.translation import LOCALES, SOURCE_LOCALE, TRANSLATIONS_DIR, html_lang
from tests import factories

CATALOGUE_LOCALES = [locale for locale in LOCALES if locale != SOURCE_LOCALE]
# Codes that must never reach a reader (words without "_" may be a translation that happens to be the same).
CODES = {str(v) for v in (*Typology, *Stage, *ACTION_STATUSES) if "_" in str(v)} | {"overall:", "csf:", "kpi:"}
# Reported by native readers (issue 24): English fragments that were glued to translated text.
KNOWN_ENGLISH = {"No peer has a value for this yet.", "Go to", "Trend of", "Status of", "código(s)", "está(ão)"}
READ_ATTRIBUTES = ("aria-label", "title", "alt", "placeholder")
SKIPPED_PATHS = re.compile(r"^/(api|docs|openapi|logout|static|sw\.js)|\.(csv|xlsx|yaml|svg|png)$|/export")
PAGES_PER_SHAPE = 2  # the third round page or cluster page shows nothing the first two did not


class _Texts(HTMLParser):
    """The page's visible texts and read-aloud attributes outside elements marked with another language,
    and its same-site links."""

    VOID: ClassVar[set[str]] = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.links: list[str] = []
        self._stack: list[bool] = []  # per open element: inside another language, or script/style

    def _foreign(self) -> bool:
        return bool(self._stack) and self._stack[-1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        foreign = self._foreign() or tag in ("script", "style") or ("lang" in values and tag != "html")
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        if not foreign:
            self.texts.extend(value for name in READ_ATTRIBUTES if (value := values.get(name)))
        if tag not in self.VOID:
            self._stack.append(foreign)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if not self._foreign() and data.strip():
            self.texts.append(" ".join(data.split()))


def _english_messages(locale: str) -> set[str]:
    """The catalogue's English messages that this language translates differently, without placeholders."""
    with (TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        catalogue = read_po(fp, locale=locale)
    english = set()
    for message in catalogue:
        if not message.id or not isinstance(message.id, str) or "%(" in message.id or "<" in message.id:
            continue
        if isinstance(message.string, str) and message.string and message.string != message.id:
            english.add(message.id)
    return english


def _crawl(client: TestClient, start: list[str]) -> Iterator[tuple[str, str]]:
    """(path, HTML) of each page reachable from `start` by same-site links, a few per shape of address."""
    queue, seen, shapes = list(start), set(start), {}
    while queue:
        path = queue.pop(0)
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue
        yield path, response.text
        parser = _Texts()
        parser.feed(response.text)
        for href in parser.links:
            link = href.split("#")[0]
            if not link.startswith("/") or link.startswith("//") or SKIPPED_PATHS.search(link) or link in seen:
                continue
            shape = re.sub(r"\d+", "N", link.split("?")[0])
            if shapes.get(shape, 0) >= PAGES_PER_SHAPE:
                continue
            shapes[shape] = shapes.get(shape, 0) + 1
            seen.add(link)
            queue.append(link)


def _switch(client: TestClient, locale: str) -> None:
    csrf = client.get("/api/v1/me").json()["csrf_token"]
    form = {"language": locale, "next": "/", "csrf_token": csrf}
    assert client.post("/language", data=form, follow_redirects=False).status_code == 303


def _problems(html: str, english: set[str]) -> list[str]:
    parser = _Texts()
    parser.feed(html)
    found = []
    for text in parser.texts:
        if text in english or text.rstrip(":") in english:
            found.append(f"English message: {text!r}")
        found.extend(f"code: {code!r} in {text!r}" for code in CODES if code in text)
        found.extend(f"known English: {phrase!r} in {text!r}" for phrase in KNOWN_ENGLISH if phrase in text)
    return found


@pytest.fixture
def demo_programme(session: Session) -> int:
    programme, _ = demo.seed(session)
    clusters = cluster_service.list_clusters(session, programme_id=programme.id)
    benchmark_service.refresh(session, [c.id or 0 for c in clusters])
    session.commit()
    return programme.id or 0


# Which language a page speaks is the templates' and catalogues' doing, the same on either database: the crawl (the
# suite's slowest test, 90 s a database on a slow machine) runs on SQLite only.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_page_speaks_the_readers_language(client: TestClient, session: Session, demo_programme: int) -> None:
    admin = factories.user(session, is_admin=True)
    programme = cluster_service.get_programme(session, demo_programme)
    member_link = demo.member_links(session, programme, base_url="", per_cluster=1)[0].url
    session.commit()
    csrf = client.get("/api/v1/me").json()["csrf_token"]
    login = {"email": admin.email, "password": factories.PASSWORD, "csrf_token": csrf}
    assert client.post("/login", data=login, follow_redirects=False).status_code == 303
    member = TestClient(client.app)
    assert member.get(member_link, follow_redirects=False).status_code == 303

    problems: dict[str, list[str]] = {}
    pages = 0
    for locale in CATALOGUE_LOCALES:
        english = _english_messages(locale)
        for reader in (client, member):
            _switch(reader, locale)
            for path, html in _crawl(reader, ["/", "/join", "/benchmarks"] if reader is client else ["/"]):
                pages += 1
                assert f'<html lang="{html_lang(locale)}"' in html, (locale, path)
                if found := _problems(html, english):
                    problems[f"{locale} {path}"] = found
    assert pages > 20 * len(CATALOGUE_LOCALES)
    assert problems == {}, "\n".join(f"{page}: {found}" for page, found in problems.items())
