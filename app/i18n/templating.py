"""What templates need to speak the reader's language: gettext, formatting filters, language marks."""

from collections.abc import Callable
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from app.i18n import translation
from app.i18n.translation import Msg, get_locale, language_name


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


def _per_render(func: Callable[..., Any]) -> Callable[..., Any]:
    """Jinja2 evaluates a filter on a constant ({{ 0.5 | format_percent }}) once, when it compiles the
    template, which would fix it in whichever locale came first; a context filter is run per render."""

    @pass_context
    def filter_(_context: Context, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return filter_


def install(env: Environment) -> None:
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        translation.raw_gettext,
        translation.raw_ngettext,
        newstyle=True,
        pgettext=translation.raw_pgettext,
        npgettext=translation.raw_npgettext,
    )
    env.finalize = _finalize
    locale_aware: dict[str, Callable[..., Any]] = {
        "format_decimal": translation.format_decimal,
        "format_percent": translation.format_percent,
        "format_date": translation.format_date,
        "format_datetime": translation.format_datetime,
        "language_name": language_name,
        "lang_label": lang_label,
    }
    env.filters.update({name: _per_render(func) for name, func in locale_aware.items()})
    env.globals.update(
        scorecard_label=scorecard_label,
        languages=list(translation.LANGUAGE_NAMES.items()),
    )
