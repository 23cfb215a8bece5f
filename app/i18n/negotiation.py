"""Which interface language a request gets: pure functions, no web framework."""

from babel import negotiate_locale

from app.i18n.translation import LOCALES, SOURCE_LOCALE, split_locale

# Browsers send a handful of languages; anything longer is not a browser and need not be parsed.
MAX_ACCEPT_LANGUAGE_ENTRIES = 20


def supported(tag: str | None) -> str | None:
    """ "pt-BR", "pt_BR" and "PT" all mean our "pt"; None for a language we have no catalogue for."""
    if not tag:
        return None
    return negotiate_locale([tag.strip().replace("_", "-").lower()], LOCALES, sep="-", aliases={})


def parse_accept_language(header: str | None) -> list[str]:
    """Language tags in order of preference: "th-TH,th;q=0.9,en;q=0.8" -> ["th-TH", "th", "en"]."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for position, entry in enumerate(header.split(",")[:MAX_ACCEPT_LANGUAGE_ENTRIES]):
        tag, _, params = entry.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def choose_locale(
    *,
    participant_language: str | None = None,
    user_language: str | None = None,
    cookie: str | None = None,
    accept_language: str | None = None,
) -> str:
    """The member's link or the user's profile first (the switch writes the choice there too), then
    the switch's cookie (people who are not logged in), then the browser's preferences, then English."""
    for candidate in (participant_language, user_language, cookie):
        locale = supported(candidate)
        if locale:
            return locale
    preferred = [tag.replace("_", "-").lower() for tag in parse_accept_language(accept_language)]
    return negotiate_locale(preferred, LOCALES, sep="-", aliases={}) or SOURCE_LOCALE


def regional_variant(language: str, accept_language: str | None) -> str:
    """The browser's region for the chosen language, for writing numbers and dates: a member whose link says
    Spanish and whose phone says es-MX reads and types 1,234.5 as in Mexico, not 1.234,5 as in Spain."""
    for tag in parse_accept_language(accept_language):
        spoken, formats = split_locale(tag)
        if spoken == language:
            return formats
    return language
