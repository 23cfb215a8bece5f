"""Numbers people type, read as their locale writes them; what could be two numbers is refused, never guessed."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.i18n.numbers import MACHINE, UnreadableNumber, number_for_input, read_number
from app.i18n.translation import use_locale
from app.scorecards.values import MAX_MAGNITUDE


@pytest.mark.parametrize(
    ("locale", "typed", "number"),
    [
        # A Thai member typed 1,500 and 1.5 was saved; a facilitator's 12,000 members became 12.
        ("th", "1,500", 1500.0),
        ("en", "1,500", 1500.0),
        ("en", "12,000", 12000.0),
        ("en", "12.5", 12.5),
        ("en", "1,234.5", 1234.5),
        ("th", "๑,๕๐๐", 1500.0),  # Thai digits
        # A Spanish member typed 1.500 and got 1.5.
        ("es", "1.500", 1500.0),
        ("pt", "1.500", 1500.0),
        ("es", "12,5", 12.5),
        ("pt", "12,5", 12.5),
        ("es", "1.234.567,5", 1234567.5),
        ("es", "0,500", 0.5),  # a leading 0 is no thousands group
        ("es", "\u22123", -3.0),  # the minus sign, not only the hyphen
        ("es", " +7 ", 7.0),
        ("es_MX", "1,500", 1500.0),  # Mexico writes numbers as English does
        ("es_MX", "12.5", 12.5),
        ("fr", "1 500,5", 1500.5),  # a space typed for the narrow no-break space
        # An Egyptian keyboard: Arabic-Indic digits with the Arabic separators; or Latin digits as shown in inputs.
        ("ar_EG", "\u0661\u066c\u0662\u0663\u0664\u066b\u0665", 1234.5),
        ("ar_EG", "12.5", 12.5),
        ("ar_MA", "1.234,5", 1234.5),  # Morocco writes numbers as France and Spain do
        (MACHINE, "-12.5", -12.5),
    ],
)
def test_a_number_is_read_as_the_locale_writes_it(locale: str, typed: str, number: float) -> None:
    assert read_number(typed, locale) == number


@pytest.mark.parametrize(
    ("locale", "typed", "message"),
    [
        ("es", "1,500", "“1,500” could be 1,5 or 1500: please type the one you mean, without a thousands separator."),
        ("pt", "2,250", "“2,250” could be 2,25 or 2250"),
        ("en", "1.500", "“1.500” could be 1.5 or 1500"),
        ("th", "3.250", "“3.250” could be 3.25 or 3250"),
        ("es", "12.5", "“12.5” is not written the way numbers are written here (1.234,5): did you mean 12,5?"),
        ("pt", "1,234.5", "did you mean 1.234,5?"),
        ("en", "12,5", "“12,5” is not written the way numbers are written here (1,234.5): did you mean 12.5?"),
        ("th", "1,50", "did you mean 1.5?"),
        ("en", "1e308", "Please enter a number, written like 1,234.5."),
        ("es", "NaN", "Please enter a number, written like 1.234,5."),
        ("pt", "doze", "Please enter a number, written like 1.234,5."),
        ("en", "9" * 401, "Please enter a number, written like 1,234.5."),
        (MACHINE, "1,5", "Please enter a number."),
    ],
)
def test_what_could_be_two_numbers_or_none_is_refused_with_what_to_type(locale: str, typed: str, message: str) -> None:
    with pytest.raises(UnreadableNumber) as refused:
        read_number(typed, locale)
    assert message in refused.value.message


def test_the_message_speaks_the_readers_language() -> None:
    with pytest.raises(UnreadableNumber) as refused:
        read_number("1,500", "es")
    assert refused.value.message.localized("es") == (
        "“1,500” puede ser 1,5 o 1500: escriba el que quiere decir, sin separador de miles."
    )
    with pytest.raises(UnreadableNumber) as thai:
        read_number("abc", "th")
    with use_locale("th"):
        assert thai.value.message.localized() == "กรุณาใส่ตัวเลข โดยเขียนแบบนี้: 1,234.5"


@pytest.mark.parametrize(
    ("locale", "value", "shown"),
    [("en", 12.5, "12.5"), ("es", 12.5, "12,5"), ("pt", 1500.0, "1500"), ("th", -3.0, "-3"), ("es", 1.234, "1,2340")],
)
def test_an_input_shows_a_stored_number_so_that_it_reads_back(locale: str, value: float, shown: str) -> None:
    assert number_for_input(value, locale) == shown


@settings(deadline=None)
@given(
    st.sampled_from(["en", "es", "pt", "th", "es_MX", "fr", MACHINE]),
    st.floats(-MAX_MAGNITUDE, MAX_MAGNITUDE) | st.decimals(0, 10_000, places=3).map(float),
)
def test_every_number_an_input_shows_reads_back_the_same(locale: str, value: float) -> None:
    assert read_number(number_for_input(value, locale), locale) == value
