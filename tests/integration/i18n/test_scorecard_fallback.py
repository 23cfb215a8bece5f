"""A template with a missing translation: `clusterscore validate` names the label and the language,
and the scorecard shows the fallback-language text, marked as such."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.cli import main
from app.clusters import service as cluster_service
from app.i18n.templating import scorecard_label
from app.i18n.translation import use_locale
from app.scorecards import parsing
from app.scorecards import service as scorecard_service
from tests import factories

TEMPLATE = """\
key: half-translated
version: "1"
title: {en: Half translated, es: Medio traducido}
languages: [en, es]
perspectives:
  - key: markets
    title: {en: Markets, es: Mercados}
    csfs:
      - key: exports
        title: {en: Export readiness}
        kpis:
          - key: exporting-firms
            title: {en: Firms that export, es: Empresas que exportan}
            level: member
            type: yes_no
            question:
              en: Did your company export in the last 12 months?
"""


@pytest.fixture
def template_file(tmp_path: Path) -> Path:
    path = tmp_path / "half-translated.yaml"
    path.write_text(TEMPLATE, encoding="utf-8")
    return path


def test_validate_reports_each_missing_label_and_language(
    template_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(template_file)]) == 0  # a missing translation warns, it does not fail
    out = capsys.readouterr().out
    assert f"warning: {template_file}:10: perspectives[0].csfs[0].title: no es translation" in out
    assert f"warning: {template_file}:16: perspectives[0].csfs[0].kpis[0].question: no es translation" in out
    assert out.count("warning:") == 2


def test_missing_label_falls_back_to_the_first_language_marked(
    template_file: Path, client: TestClient, session: Session
) -> None:
    spec, _digest = parsing.load_template_file(template_file)
    scorecard_service.load_spec(session, spec)
    cluster = factories.cluster(session, template_key="half-translated")

    view = cluster_service.scorecard(session, cluster, lang="es")
    assert (view.language, view.fallback_language) == ("es", "en")
    perspective = view.perspectives[0]
    csf = perspective.csfs[0]
    kpi = csf.kpis[0]
    assert (perspective.title, perspective.fallback) == ("Mercados", [])
    assert (csf.title, csf.fallback) == ("Export readiness", ["title", "rating_question"])
    assert csf.rating_question == "¿En qué medida está presente «Export readiness» en nuestro clúster?"
    assert (kpi.title, kpi.question, kpi.fallback) == (
        "Empresas que exportan",
        "Did your company export in the last 12 months?",
        ["question"],
    )

    with use_locale("es"):
        marked = scorecard_label(view, csf, "title")
        assert '<span lang="en">Export readiness</span>' in marked
        assert 'title="Aún sin traducir; se muestra en inglés"' in marked
        assert scorecard_label(view, kpi, "title") == "Empresas que exportan"

    # Nothing is marked in the fallback language itself.
    english = cluster_service.scorecard(session, cluster, lang="en")
    assert all(not c.fallback for p in english.perspectives for c in p.csfs)


def test_undeclared_language_gets_the_fallback_language_throughout(
    template_file: Path, client: TestClient, session: Session
) -> None:
    spec, _digest = parsing.load_template_file(template_file)
    scorecard_service.load_spec(session, spec)
    cluster = factories.cluster(session, template_key="half-translated")
    view = cluster_service.scorecard(session, cluster, lang="th")
    assert view.language == "en" and view.perspectives[0].title == "Markets"
    assert view.perspectives[0].csfs[0].fallback == []
    with use_locale("th"):
        assert scorecard_label(view, view.perspectives[0], "title") == '<span lang="en">Markets</span>'
