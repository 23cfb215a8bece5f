"""Numbers, percentages and dates in the reader's locale; messages translated when shown; one shared
Jinja2 environment rendering different languages at the same time."""

import threading
from datetime import date
from types import SimpleNamespace

import pytest
from jinja2 import DictLoader, Environment, FileSystemLoader
from markupsafe import Markup

from app.config import ROOT
from app.errors import InvalidInput, NotFound
from app.i18n import templating
from app.i18n.translation import (
    Msg,
    format_change,
    format_date,
    format_decimal,
    format_figure,
    format_percent,
    gettext,
    language_name,
    translated,
    use_locale,
)
from app.responses.logic import AnswerRejected
from app.scoring.logic import ScoringRules


@pytest.mark.parametrize(
    ("locale", "number", "percent", "day"),
    [
        ("en", "1,234.5", "72%", "Nov 29, 2026"),
        ("es", "1.234,5", "72\xa0%", "29 nov 2026"),
        ("pt", "1.234,5", "72%", "29 de nov. de 2026"),
        ("th", "1,234.5", "72%", "29 พ.ย. 2026"),
        # Translated by the language, written by the full locale (the browser's region).
        ("es-MX", "1,234.5", "72%", "29 nov 2026"),
        ("es-AR", "1.234,5", "72%", "29 nov 2026"),
        ("es-CO", "1.234,5", "72%", "29/11/2026"),
        ("pt-BR", "1.234,5", "72%", "29 de nov. de 2026"),
        ("th-TH", "1,234.5", "72%", "29 พ.ย. 2026"),
        ("fr", "1\u202f234,5", "72\u00a0%", "29 nov. 2026"),
        ("fr-SN", "1\u202f234,5", "72\u00a0%", "29 nov. 2026"),
        # Egypt and Jordan write Arabic-Indic digits, Morocco and Tunisia Latin ones.
        (
            "ar-EG",
            "\u0661\u066c\u0662\u0663\u0664\u066b\u0665",
            "\u0667\u0662%",
            "\u0662\u0669\u200f/\u0661\u0661\u200f/\u0662\u0660\u0662\u0666",
        ),
        ("ar-MA", "1.234,5", "72%", "29\u200f/11\u200f/2026"),
    ],
)
def test_formatting_follows_the_locale(locale: str, number: str, percent: str, day: str) -> None:
    with use_locale(locale):
        assert format_decimal(1234.5) == number
        assert format_percent(0.72) == percent
        assert format_date(date(2026, 11, 29)) == day
        assert format_decimal(None) == "\u2013"


@pytest.mark.parametrize(
    ("locale", "figure", "score", "nearly_green", "typed_back"),
    [
        ("en", "12.5", "56", "69.8", "1234.5"),
        ("es", "12,5", "56", "69,8", "1234,5"),
        ("pt", "12,5", "56", "69,8", "1234,5"),
        ("th", "12.5", "56", "69.8", "1234.5"),
        ("es_MX", "12.5", "56", "69.8", "1234.5"),
    ],
)
def test_figures_scores_and_inputs_follow_the_locale(
    locale: str, figure: str, score: str, nearly_green: str, typed_back: str
) -> None:
    rules = ScoringRules()
    with use_locale(locale):
        assert format_figure(12.5) == figure and format_figure(float("nan")) == "\u2013"
        assert templating.format_score(56.453812210648145, rules) == score
        # 69.8 is amber (green starts at 70): never shown as "70".
        assert templating.format_score(69.8, rules) == nearly_green
        assert templating.input_number(1234.5) == typed_back and templating.input_number(None) == ""


def test_a_score_macro_never_contradicts_its_colour() -> None:
    env = Environment(loader=FileSystemLoader(ROOT / "templates"), autoescape=True)
    templating.install(env)
    page = '{% from "dashboard/_macros.html" import score %}{{ score(value, status, rules) }}'
    with use_locale("es"):
        amber = env.from_string(page).render(value=69.8, status="amber", rules=ScoringRules())
        green = env.from_string(page).render(value=70.2, status="green", rules=ScoringRules())
    assert '<span class="rag rag-amber">69,8</span>' in amber
    assert '<span class="rag rag-green">70</span>' in green


@pytest.mark.parametrize(
    ("locale", "value", "shown"),
    [
        ("en", 2.56, "+2.6"),
        ("en", -2.56, "-2.6"),
        # Rounds to nothing: no sign, so that -2.6 against a median of -2.5 (really -2.53) is not "-0.0".
        ("en", -0.03, "0.0"),
        ("en", 0.04, "0.0"),
        ("en", -0.0, "0.0"),
        ("en", -0.05, "0.0"),  # half to even, as format_decimal rounds the figures beside it
        ("en", -0.06, "-0.1"),
        ("es", 1234.5, "+1.234,5"),
        ("es", -0.01, "0,0"),
        ("ar-EG", -0.04, "\u0660\u066b\u0660"),
    ],
)
def test_a_change_carries_its_sign_unless_it_rounds_to_nothing(locale: str, value: float, shown: str) -> None:
    with use_locale(locale):
        assert format_change(value) == shown
        assert format_change(None) == "\u2013"


def test_a_change_of_raw_figures_keeps_only_the_decimals_it_has() -> None:
    with use_locale("en"):
        assert format_change(3, "#,##0.##") == "+3" and format_change(-0.004, "#,##0.##") == "0"
        assert format_change(-1.25, "#,##0.##") == "-1.25"


@pytest.mark.parametrize(("change", "shown"), [(12.6, "▲ +13"), (-12.6, "▼ \u221213"), (0.4, "= 0"), (-0.4, "= 0")])
def test_the_overall_change_arrow_follows_the_points_it_shows(change: float, shown: str) -> None:
    """A change of 0.4 points shown as "▲ +0" would say the cluster went up by nothing."""
    env = Environment(loader=FileSystemLoader(ROOT / "templates"), autoescape=True)
    templating.install(env)
    overall = SimpleNamespace(value=63.0, status="amber")
    current = SimpleNamespace(submitted=4, scores=SimpleNamespace(overall=overall))
    view = SimpleNamespace(current=current, participants=4, response_rate=100.0, rules=ScoringRules())
    page = '{% from "dashboard/_results.html" import overview %}{{ overview(view, change) }}'
    with use_locale("en"):
        html = env.from_string(page).render(view=view, change=change)
    assert f'<span class="change">{shown} <span class="visually-hidden">' in html


def test_messages_keep_english_and_translate_when_shown() -> None:
    error = NotFound("No such cluster.")
    assert error.message == "No such cluster." and str(error) == "No such cluster."
    assert error.message.localized("es") == "No existe ese clúster."
    with use_locale("th"):
        assert error.message.localized() == "ไม่พบคลัสเตอร์นี้"
        assert gettext(error.message) == "ไม่พบคลัสเตอร์นี้"


def test_placeholders_are_filled_after_translation() -> None:
    rejected = AnswerRejected("Please choose a whole number from %(min)s to %(max)s.", min=1, max=5)
    assert str(rejected) == "Please choose a whole number from 1 to 5."
    assert isinstance(str(rejected), Msg)  # so a service that does str(exc) keeps it translatable
    assert rejected.message.localized("pt") == "Escolha um número inteiro de 1 a 5."
    error = InvalidInput("Some answers could not be saved.", details=[{"field": "x", "message": rejected.message}])
    assert translated(error.details, "th") == [{"field": "x", "message": "โปรดเลือกจำนวนเต็มตั้งแต่ 1 ถึง 5"}]


def test_plural_messages() -> None:
    one = Msg(
        "Too many failed attempts. Try again in %(num)s minute.",
        "Too many failed attempts. Try again in %(num)s minutes.",
        1,
    )
    assert one == "Too many failed attempts. Try again in 1 minute."
    assert one.localized("es").endswith("dentro de 1 minuto.")
    assert one.localized("th") == "ลองผิดหลายครั้งเกินไป โปรดลองใหม่ในอีก 1 นาที"


def test_a_placeholder_may_be_called_n() -> None:
    assert Msg("Use at least %(n)s characters.", n=10) == "Use at least 10 characters."


def test_language_names_are_in_the_readers_language() -> None:
    assert language_name("th", "es") == "tailandés"
    assert language_name("pt-BR", "en") == "Portuguese (Brazil)"
    assert language_name(None) == ""


def _environment() -> Environment:
    env = Environment(
        autoescape=True,
        loader=DictLoader(
            {"page": '{{ _("Log in") }}|{{ error }}|{{ 0.5 | format_percent }}|{{ _("Welcome, %(name)s", name=who) }}'}
        ),
    )
    templating.install(env)
    return env


def test_one_environment_serves_every_language_at_once() -> None:
    env = _environment()
    expected = {
        "en": "Log in|Wrong email or password.|50%|Welcome, <b>",
        "es": "Iniciar sesión|Correo electrónico o contraseña incorrectos.|50\xa0%|Bienvenido/a, <b>",
        "pt": "Entrar|E-mail ou senha incorretos.|50%|Boas-vindas, <b>",
        "th": "เข้าสู่ระบบ|อีเมลหรือรหัสผ่านไม่ถูกต้อง|50%|ยินดีต้อนรับ คุณ<b>",
    }
    results: dict[str, set[str]] = {locale: set() for locale in expected}
    barrier = threading.Barrier(len(expected))

    def render(locale: str) -> None:
        barrier.wait()
        for _ in range(200):
            with use_locale(locale):
                page = env.get_template("page").render(error=Msg("Wrong email or password."), who="<b>")
            results[locale].add(page)

    threads = [threading.Thread(target=render, args=(locale,)) for locale in expected]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for locale, text in expected.items():
        assert results[locale] == {text.replace("<b>", "&lt;b&gt;")}


def test_lang_label_marks_text_in_another_language() -> None:
    with use_locale("es"):
        marked = templating.lang_label("ผลิตภัณฑ์ใหม่", "th")
        assert isinstance(marked, Markup)
        assert '<span lang="th">ผลิตภัณฑ์ใหม่</span>' in marked
        assert 'title="Escrito en tailandés"' in marked and ">TH</small>" in marked
        same = templating.lang_label("Nuevos productos", "es")
        assert same == '<span lang="es">Nuevos productos</span>'
        assert templating.lang_label("<script>", None) == "&lt;script&gt;"


@pytest.mark.parametrize(
    ("n", "ending"), [(1, "تجمع واحد"), (2, "تجمعين"), (5, "تجمعات"), (11, "تجمعًا"), (100, "تجمع")]
)
def test_arabic_plural_forms_follow_the_count(n: int, ending: str) -> None:
    # Babel's generated Arabic rule swaps "many" (11-99) and "other" (100-102): the catalogue states gettext's.
    median = Msg("median of %(num)s cluster", "median of %(num)s clusters", n)
    assert median.localized("ar").endswith(ending)
