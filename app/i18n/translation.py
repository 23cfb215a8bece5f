"""Catalogues, the current locale, and messages that are translated when shown rather than when written.

One Jinja2 environment and one set of Python functions serve every language: they read the
request's locale from a context variable, which app.web.render() sets around each rendering.
Context variables are per thread and per task, so concurrent requests in different languages
never see each other's locale.

Python code marks messages for translation in two ways, both found by `make messages`:
- an AppError or AnswerRejected message is an English msgid (placeholders as %(name)s, values as
  keyword arguments), kept as a Msg and translated when it is shown (error page, JSON body, form);
- other texts use _l("...") for the same kind of Msg.
"""

import contextlib
import logging
import math
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from functools import cache, lru_cache
from gettext import NullTranslations
from io import BytesIO
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal as babel_format_decimal
from babel.numbers import format_percent as babel_format_percent
from babel.support import Translations

from app.config import ROOT

log = logging.getLogger("clusterscore")

TRANSLATIONS_DIR = ROOT / "translations"
DOMAIN = "messages"
SOURCE_LOCALE = "en"
# The interface languages; English is the source language, the others have catalogues.
LOCALES = ("en", "es", "pt", "th", "fr", "ar")
# Each language named in itself, for the language switch.
LANGUAGE_NAMES = {"en": "English", "es": "Español", "pt": "Português", "th": "ไทย", "fr": "Français", "ar": "العربية"}
# Our Portuguese is Brazilian; screen readers pronounce better with the region in <html lang>.
HTML_LANG = {"pt": "pt-BR"}
# Languages written from right to left: their pages get dir="rtl" (the CSS uses logical properties).
RIGHT_TO_LEFT = frozenset({"ar"})
# Scripts a projector's or laptop's Linux may have no font for (boxes instead of letters): staff pages in these
# languages load static/fonts/<script>.css, built by tools/subset_fonts.py. Members' phones have the fonts.
SCRIPT_FONTS = {"th": "thai", "ar": "arabic"}

# (interface language, formatting locale): "es" speaks Spanish, "es_MX" also writes 1,234.5 as Mexico does.
_current: ContextVar[tuple[str, str]] = ContextVar("clusterscore_locale", default=(SOURCE_LOCALE, SOURCE_LOCALE))


def get_locale() -> str:
    """The interface language: one of LOCALES."""
    return _current.get()[0]


def get_format_locale() -> str:
    """The Babel locale numbers and dates are written (and read) in: the language, or a region of it."""
    return _current.get()[1]


@lru_cache(maxsize=256)  # bounded: the argument may come from a browser's header
def split_locale(locale: str) -> tuple[str, str]:
    """ "es-MX" -> ("es", "es_MX"); "pt" -> ("pt", "pt"); a region Babel does not know, or a language we
    have no catalogue for, falls back to the language, then to English."""
    try:
        parsed = Locale.parse(locale.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return SOURCE_LOCALE, SOURCE_LOCALE
    if parsed.language not in LOCALES:
        return SOURCE_LOCALE, SOURCE_LOCALE
    return parsed.language, str(parsed)


@contextlib.contextmanager
def use_locale(locale: str) -> Iterator[None]:
    """Everything inside (gettext, Msg, formatting filters) speaks `locale` ("es", or "es-MX" with Mexico's
    way of writing numbers)."""
    token = _current.set(split_locale(locale))
    try:
        yield
    finally:
        _current.reset(token)


def html_lang(locale: str) -> str:
    return HTML_LANG.get(locale, locale)


def isolated(text: str) -> str:
    """A name or period set into text keeps its own direction: on an Arabic page "2026-H1" stays whole
    (left alone, the bidi algorithm shows it as "H1-2026")."""
    return f"\u2068{text}\u2069"  # first strong isolate ... pop directional isolate


def in_reading_direction(text: str, locale: str) -> str:
    """A line of SVG text has no page around it to say right to left, so it says so itself."""
    return f"\u2067{text}\u2069" if locale in RIGHT_TO_LEFT else text  # right-to-left isolate ... pop


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalogue; rebuilt in memory from the .po (with a warning) when the .mo is missing
    or older, so a forgotten `make compile` shows stale or English text rather than failing."""
    if locale == SOURCE_LOCALE or locale not in LOCALES:
        return NullTranslations()
    folder = TRANSLATIONS_DIR / locale / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fp:
            return Translations(fp, domain=DOMAIN)
    if not po.exists():
        log.warning("no catalogue for %s; showing English", locale)
        return NullTranslations()
    log.warning("%s is missing or older than its .po; run `make compile`", mo)
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=locale, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def gettext(message: str, **variables: Any) -> str:
    if isinstance(message, Msg):
        return message.localized()
    text = translations(get_locale()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    text = translations(get_locale()).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def raw_gettext(message: str) -> str:
    """For Jinja2's newstyle gettext, which fills in the variables itself (escaping them)."""
    if isinstance(message, Msg):
        return message.localized()
    return translations(get_locale()).gettext(message)


def raw_ngettext(singular: str, plural: str, n: int) -> str:
    return translations(get_locale()).ngettext(singular, plural, n)


def raw_pgettext(context: str, message: str) -> str:
    return translations(get_locale()).pgettext(context, message)


def raw_npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return translations(get_locale()).npgettext(context, singular, plural, n)


def pgettext(context: str, message: str, **variables: Any) -> str:
    text = translations(get_locale()).pgettext(context, message)
    return text % variables if variables else text


def npgettext(context: str, singular: str, plural: str, n: int, **variables: Any) -> str:
    text = translations(get_locale()).npgettext(context, singular, plural, n)
    return text % {"num": n, **variables}


class Msg(str):
    """A message whose value is the English text (for logs, tests and callers that want a plain str),
    and which can still be shown in the reader's language: localized() at the moment it is shown."""

    msgid: str
    plural: str | None
    n: int | None
    params: dict[str, Any]

    # plural and n are positional-only, so a placeholder may be called %(n)s.
    def __new__(cls, msgid: str, plural: str | None = None, n: int | None = None, /, **params: Any) -> "Msg":
        if plural is not None and n is not None:
            params = {"num": n, **params}
            english = (msgid if n == 1 else plural) % _shown(params, SOURCE_LOCALE)
        else:
            english = msgid % _shown(params, SOURCE_LOCALE) if params else msgid
        self = super().__new__(cls, english)
        self.msgid, self.plural, self.n, self.params = msgid, plural, n, params
        return self

    def localized(self, locale: str | None = None) -> str:
        locale = locale or get_locale()
        catalogue = translations(locale)
        formats = get_format_locale() if get_locale() == locale else locale
        # A value may itself be a message, e.g. a round status named in a sentence.
        params = {
            key: value.localized(locale) if isinstance(value, Msg) else value for key, value in self.params.items()
        }
        params = _shown(params, formats)
        if self.plural is not None and self.n is not None:
            return catalogue.ngettext(self.msgid, self.plural, self.n) % params
        text = catalogue.gettext(self.msgid)
        return text % params if params else text

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.msgid, self.plural, self.n, self.params))


def _shown(params: dict[str, Any], locale: str) -> dict[str, Any]:
    """Decimal numbers in a message as the reader writes them (0.6, 0,6; 1,000 or 1.000); whole numbers of
    type int (counts, limits) stay as they are, in the locale's own digits."""
    with localcontext(prec=EVERY_DIGIT_OF_A_FLOAT):
        return {key: _shown_value(value, locale) for key, value in params.items()}


def _shown_value(value: Any, locale: str) -> Any:
    if isinstance(value, float | Decimal):
        text = babel_format_decimal(value, locale=locale, decimal_quantization=False, numbering_system="default")
        return native_digits(text, locale)
    if isinstance(value, int) and not isinstance(value, bool):
        return native_digits(str(value), locale)
    return value


def _rebuild(msgid: str, plural: str | None, n: int | None, params: dict[str, Any]) -> Msg:
    return Msg(msgid, plural, n, **params)


def _l(msgid: str, /, **params: Any) -> Msg:
    """Mark a message for translation; it is translated when shown, in the reader's language."""
    return Msg(msgid, **params)


def _nl(singular: str, plural: str, n: int, /, **params: Any) -> Msg:
    """A message with a plural form; %(num)s is n."""
    return Msg(singular, plural, n, **params)


def translated(value: Any, locale: str | None = None) -> Any:
    """Translate every Msg inside a JSON-like value (error details are lists of {field, message})."""
    if isinstance(value, Msg):
        return value.localized(locale)
    if isinstance(value, dict):
        return {key: translated(item, locale) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [translated(item, locale) for item in value]
    return value


# --- Formatting (numbers, percentages, dates) in the current locale -------------------------------
# Numbers are shown in the locale's own digits (numbering_system="default"): Arabic-Indic in Egypt and
# Jordan (1,234.5 in those digits and separators), Latin in Morocco and Tunisia (1.234,5) and everywhere
# else. Input fields keep Latin
# digits (numbers.number_for_input); numbers.read_number reads either.

MISSING = "\u2013"  # an en dash where there is no value yet
_DIGITS = {"arab": str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")}


@lru_cache(maxsize=256)
def _numbering_system(locale: str) -> str:
    try:
        return str(Locale.parse(locale.replace("-", "_")).default_numbering_system)
    except (ValueError, TypeError, UnknownLocaleError):
        return "latn"


def native_digits(text: str, locale: str) -> str:
    """Babel writes the locale's separators but always Latin digits: the locale's own digits here."""
    table = _DIGITS.get(_numbering_system(locale))
    return text.translate(table) if table else text


# Babel computes with the decimal context: the default 28 digits cannot hold a float such as 1e308 written out.
EVERY_DIGIT_OF_A_FLOAT = 800


def format_decimal(value: float | int | Decimal | None, format: str | None = None) -> str:
    """1234.5 -> "1,234.5" (en), "1.234,5" (es, pt), "1,234.5" (th); None -> MISSING."""
    if value is None:
        return MISSING
    with localcontext(prec=EVERY_DIGIT_OF_A_FLOAT):
        text = babel_format_decimal(value, format=format, locale=get_format_locale(), numbering_system="default")
    return native_digits(text, get_format_locale())


def format_change(value: float | Decimal | None, format: str = "#,##0.0") -> str:
    """A change with its sign, rounded as `format` shows it: +1.5, -0.3; one that rounds to nothing is 0.0, with no
    sign, never "-0.0" beside two figures that read the same."""
    if value is None:
        return MISSING
    places = len(format.partition(".")[2])
    shown = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)
    return format_decimal(abs(shown), format) if shown == 0 else format_decimal(shown, f"+{format};-{format}")


def format_figure(value: float | None) -> str:
    """A figure for people: thousands grouped, at most two decimals, no trailing zeros (1.234,5 in es)."""
    if value is None or not math.isfinite(value):
        return MISSING
    return format_decimal(value, "#,##0.##")


def format_percent(value: float | None, format: str | None = None) -> str:
    """A fraction: 0.725 -> "72%" (en), "72 %" (es), "72%" (pt, th). Scores on 0-100 are divided by 100 first."""
    if value is None:
        return MISSING
    text = babel_format_percent(value, format=format, locale=get_format_locale(), numbering_system="default")
    return native_digits(text, get_format_locale())


def format_date(value: date | datetime | None, format: str = "medium") -> str:
    if value is None:
        return MISSING
    return native_digits(babel_format_date(value, format=format, locale=get_format_locale()), get_format_locale())


def format_datetime(value: datetime | None, format: str = "medium") -> str:
    if value is None:
        return MISSING
    text = babel_format_datetime(value, format=format, locale=get_format_locale())
    return native_digits(text, get_format_locale())


def language_name(code: str | None, locale: str | None = None) -> str:
    """A language's name in the reader's language: language_name("th", "es") -> "tailandés"."""
    if not code:
        return ""
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name(locale or get_locale())
    except (ValueError, TypeError):
        return code
    return name or code
