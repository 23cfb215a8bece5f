"""Which language a request gets."""

import pytest

from app.i18n.negotiation import choose_locale, parse_accept_language, supported


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("pt-BR", "pt"), ("pt_BR", "pt"), ("PT", "pt"), ("th-TH", "th"), ("es-419", "es"), ("en-GB", "en"), ("de", None)],
)
def test_supported_maps_regional_tags_to_our_catalogues(tag: str, expected: str | None) -> None:
    assert supported(tag) == expected


def test_accept_language_is_ordered_by_quality_then_position() -> None:
    header = "en;q=0.5, th-TH, th;q=0.9, de;q=0, *;q=0.1, es;q=0.9"
    assert parse_accept_language(header) == ["th-TH", "th", "es", "en"]
    assert parse_accept_language("") == []
    assert parse_accept_language("fr;q=abc") == []


def test_browser_preference_picks_the_first_language_we_have() -> None:
    assert choose_locale(accept_language="de-DE,de;q=0.9,pt-BR;q=0.8,en;q=0.5") == "pt"
    assert choose_locale(accept_language="en;q=0.1, th") == "th"
    assert choose_locale(accept_language="zh-CN") == "en"
    assert choose_locale() == "en"


def test_member_link_then_profile_then_switch_then_browser() -> None:
    browser = "th"
    assert choose_locale(accept_language=browser) == "th"
    assert choose_locale(cookie="es", accept_language=browser) == "es"
    assert choose_locale(user_language="pt", cookie="es", accept_language=browser) == "pt"
    assert choose_locale(participant_language="th", user_language="pt", cookie="es") == "th"
    # A language we have no catalogue for is passed over, not shown as English.
    assert choose_locale(participant_language="de", cookie="es") == "es"
