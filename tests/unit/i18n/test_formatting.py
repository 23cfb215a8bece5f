"""Numbers, percentages and dates in the reader's locale; messages translated when shown; one shared
Jinja2 environment rendering different languages at the same time."""

import threading
from datetime import date

import pytest
from jinja2 import DictLoader, Environment
from markupsafe import Markup

from app.errors import InvalidInput, NotFound
from app.i18n import templating
from app.i18n.translation import (
    Msg,
    format_date,
    format_decimal,
    format_percent,
    gettext,
    language_name,
    translated,
    use_locale,
)
from app.responses.logic import AnswerRejected


@pytest.mark.parametrize(
    ("locale", "number", "percent", "day"),
    [
        ("en", "1,234.5", "72%", "Nov 29, 2026"),
        ("es", "1.234,5", "72\xa0%", "29 nov 2026"),
        ("pt", "1.234,5", "72%", "29 de nov. de 2026"),
        ("th", "1,234.5", "72%", "29 พ.ย. 2026"),
    ],
)
def test_formatting_follows_the_locale(locale: str, number: str, percent: str, day: str) -> None:
    with use_locale(locale):
        assert format_decimal(1234.5) == number
        assert format_percent(0.72) == percent
        assert format_date(date(2026, 11, 29)) == day
        assert format_decimal(None) == "\u2013"


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
