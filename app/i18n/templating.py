"""What templates need to speak the reader's language: gettext, formatting filters, language marks."""

from collections.abc import Callable
from typing import Any, Protocol

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from app.i18n import translation
from app.i18n.numbers import number_for_input
from app.i18n.terms import measure_name, term
from app.i18n.translation import Msg, get_locale, language_name
from app.scoring.logic import displayed


def _finalize(value: Any) -> Any:
    """{{ error }} where error is an AppError message (a Msg) shows it in the reader's language."""
    return value.localized() if isinstance(value, Msg) else value


def _marked(text: str, lang: str, note: str) -> Markup:
    # The lang attribute lets screen readers and line breaking (Thai has no spaces) treat the text right.
    marker = Markup('<small class="lang-mark" title="{}">{}</small>').format(note, lang.upper())
    return Markup('<span lang="{}">{}</span> {}').format(lang, text, marker)


def lang_label(text: str | None, lang: str | None) -> Markup:
    """Text written in a known language, e.g. a member-proposed indicator: marked with its language
    (a small code, the language's name on hover) unless it is the page's language."""
    if not text:
        return Markup("")
    if not lang or lang.split("-")[0].lower() == get_locale():
        return Markup(escape(text)) if not lang else Markup('<span lang="{}">{}</span>').format(lang, text)
    note = translation.gettext("Written in %(language)s", language=language_name(lang))
    return _marked(text, lang, note)


def scorecard_label(scorecard: Any, item: Any, field: str) -> Markup:
    """A scorecard label (scorecard view from clusters.service.scorecard); when the template has no
    translation for it, the fallback-language text is shown marked as such."""
    text = getattr(item, field, None)
    if text is None:
        return Markup("")
    if field in getattr(item, "fallback", ()):
        lang = scorecard.fallback_language
        note = translation.gettext("Not yet translated; shown in %(language)s", language=language_name(lang))
        return _marked(text, lang, note)
    if scorecard.language != get_locale():
        return Markup('<span lang="{}">{}</span>').format(scorecard.language, text)
    return Markup(escape(text))


def in_scorecard_language(scorecard: Any, message: Msg) -> Markup:
    """A sentence around a scorecard label (the unit hint "In months."), in the language the labels are
    shown in: a template without the reader's language reads in its own language throughout, never a
    Spanish sentence around an English word."""
    if scorecard.language == get_locale():
        return Markup(escape(message.localized()))
    return Markup('<span lang="{}">{}</span>').format(scorecard.language, message.localized(scorecard.language))


class Thresholds(Protocol):
    green: float
    amber: float


def format_score(value: float | None, thresholds: Thresholds) -> str:
    """A 0-100 score as the reader writes numbers, with the decimals its status needs (scoring.logic.displayed):
    69.8 is never shown as "70" in amber when green starts at 70."""
    if value is None:
        return translation.MISSING
    shown, places = displayed(value, green=thresholds.green, amber=thresholds.amber)
    return translation.format_decimal(shown, "#,##0." + "0" * places if places else "#,##0")


def input_number(value: float | None) -> str:
    """A stored number in an input field, so that posting the form again reads the same number."""
    return "" if value is None else number_for_input(value, translation.get_format_locale())


def span(value: object, css_class: str) -> Markup:
    """A value set apart inside a translated sentence (the live count that the session screen updates); a count in
    the reader's digits, as the sentence's other numbers."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = translation.format_decimal(value)
    return Markup('<span class="{}">{}</span>').format(css_class, value)


def bold(value: object) -> Markup:
    """A value in bold inside a translated sentence (the address people type from the wall)."""
    return Markup("<strong>{}</strong>").format(value)


def _per_render(func: Callable[..., Any]) -> Callable[..., Any]:
    """Jinja2 evaluates a filter on a constant ({{ 0.5 | format_percent }}) once, when it compiles the
    template, which would fix it in whichever locale came first; a context filter is run per render."""

    @pass_context
    def filter_(_context: Context, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return filter_


def _native(variables: dict[str, Any]) -> dict[str, Any]:
    locale = translation.get_format_locale()
    return {
        key: translation.native_digits(str(value), locale)
        if isinstance(value, int) and not isinstance(value, bool)
        else value
        for key, value in variables.items()
    }


def _digits_in_messages(env: Environment) -> None:
    """Counts in a template's messages ("Step 1 of 4") in the locale's own digits (Arabic-Indic in Egypt), as
    Msg does for Python's messages; the plural form is still chosen by the number itself."""
    gettext, ngettext = env.globals["gettext"], env.globals["ngettext"]

    @pass_context
    def native_gettext(context: Context, string: str, **variables: Any) -> str:
        return gettext(context, string, **_native(variables))  # type: ignore[operator]

    @pass_context
    def native_ngettext(context: Context, singular: str, plural: str, num: int, **variables: Any) -> str:
        return ngettext(context, singular, plural, num, **_native({"num": num, **variables}))  # type: ignore[operator]

    env.globals.update(gettext=native_gettext, _=native_gettext, ngettext=native_ngettext)


def install(env: Environment) -> None:
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        translation.raw_gettext,
        translation.raw_ngettext,
        newstyle=True,
        pgettext=translation.raw_pgettext,
        npgettext=translation.raw_npgettext,
    )
    _digits_in_messages(env)
    env.finalize = _finalize
    locale_aware: dict[str, Callable[..., Any]] = {
        "format_decimal": translation.format_decimal,
        "format_change": translation.format_change,
        "figure": translation.format_figure,
        "format_score": format_score,
        "input_number": input_number,
        "format_percent": translation.format_percent,
        "format_date": translation.format_date,
        "format_datetime": translation.format_datetime,
        "language_name": language_name,
        "lang_label": lang_label,
        "term": term,
        "digits": lambda value: translation.native_digits(str(value), translation.get_format_locale()),
    }
    env.filters.update({name: _per_render(func) for name, func in locale_aware.items()})
    env.filters["isolated"] = translation.isolated
    env.globals.update(
        scorecard_label=scorecard_label,
        in_scorecard_language=in_scorecard_language,
        _l=translation._l,
        measure_name=measure_name,
        span=span,
        bold=bold,
        languages=list(translation.LANGUAGE_NAMES.items()),
    )
