"""Numbers that people type, read the way their locale writes them (Babel's CLDR data), never guessed.

One reader for every number typed as text: the member's form and its autosave, the offline queue, strings in
the JSON API, the facilitator's KPI values, baselines, targets and weights, and imported tables.

- `1,500` is 1500 in English and Thai, `1.500` is 1500 in Spanish and Portuguese, `12,5` is 12.5 there:
  Babel's strict parsing with the locale's decimal and grouping symbols.
- A string that would be another number in the other common convention is refused with both readings:
  `1,500` in Spanish is 1,5 by the locale but 1500 as most of the Americas and Asia write it (and `1.500`
  in English likewise). A decimal mark followed by exactly three digits is how a thousands separator looks.
- A string the locale cannot read at all (`12.5` in Spanish) is refused with what it would be in the
  locale's own writing (`12,5`), never silently turned into 125 or 12.5.
- Digits of other scripts (Thai ๑๒๓, Arabic-Indic) count as their digits; spaces in place of a space-like
  thousands separator (French) are that separator.

Machine-written numbers (ODK submissions and exports, XML) are read with MACHINE: 1234.5, no grouping.
"""

import re
import unicodedata
from decimal import Decimal, localcontext

from babel.numbers import NumberFormatError, format_decimal, get_decimal_symbol, get_group_symbol, parse_decimal

from app.i18n.translation import EVERY_DIGIT_OF_A_FLOAT, Msg, _l

MACHINE = "machine"
"""Numbers written by software: an optional sign, digits, and a point before the decimals."""

MAX_TYPED_LENGTH = 400  # the longest a float written out in full can be, and then some
_MACHINE_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_MINUS_SIGNS = "-\u2212\u2012\u2013"  # hyphen-minus, minus sign, figure dash, en dash
_SPACES = " \u00a0\u202f"
ARABIC_DECIMAL, ARABIC_GROUP = "\u066b", "\u066c"
# A decimal mark between 1-3 digits (not starting with 0) and exactly three: also a thousands separator.
_LIKE_THOUSANDS = r"^-?[1-9]\d{{0,2}}{mark}\d{{3}}$"


class UnreadableNumber(ValueError):
    """What was typed is not one number in the reader's locale; `message` says why and what to type."""

    def __init__(self, message: Msg) -> None:
        self.message = message
        super().__init__(message)


def read_number(typed: str, locale: str) -> float:
    """The number `typed` means in `locale` (a Babel locale such as "es" or "es_MX", or MACHINE).

    Raises UnreadableNumber for anything that is not exactly one finite number there.
    """
    text = typed.strip()
    if locale == MACHINE:
        if not _MACHINE_NUMBER.match(text):
            raise UnreadableNumber(_l("Please enter a number."))
        return _finite(Decimal(text), locale)
    decimal, group = get_decimal_symbol(locale), get_group_symbol(locale)
    text = _normalised(text, group, locale)
    example = format_decimal(1234.5, locale=locale)
    allowed = re.escape(decimal + group)
    if len(text) > MAX_TYPED_LENGTH or not re.match(rf"^-?[0-9{allowed}]*[0-9][0-9{allowed}]*$", text):
        raise UnreadableNumber(_l("Please enter a number, written like %(example)s.", example=example))
    try:
        value = parse_decimal(text, locale=locale, strict=True)
    except NumberFormatError:
        raise UnreadableNumber(_unreadable(typed.strip(), text, decimal, group, locale, example)) from None
    if decimal in ".," and re.match(_LIKE_THOUSANDS.format(mark=re.escape(decimal)), text):
        thousands = int(text.replace(decimal, ""))
        raise UnreadableNumber(
            _l(
                "“%(typed)s” could be %(first)s or %(second)s: please type the one you mean, "
                "without a thousands separator.",
                typed=typed.strip(),
                first=format_decimal(value, locale=locale),
                second=str(thousands),
            )
        )
    return _finite(value, locale)


def _normalised(text: str, group: str, locale: str) -> str:
    """Digits of any script as ASCII digits, the locale's minus sign as "-", no leading "+", and spaces as
    the thousands separator where that separator is a kind of space."""
    digits = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)
    # The Arabic decimal and thousands separators (what an Egyptian phone keyboard types with Arabic digits).
    digits = digits.replace(ARABIC_DECIMAL, get_decimal_symbol(locale)).replace(ARABIC_GROUP, group)
    if digits[:1] in _MINUS_SIGNS:
        digits = "-" + digits[1:]
    elif digits[:1] == "+":
        digits = digits[1:]
    if group in _SPACES:
        digits = "".join(group if c in _SPACES else c for c in digits)
    return digits


def _unreadable(typed: str, text: str, decimal: str, group: str, locale: str, example: str) -> Msg:
    """The message for a string the locale cannot read: with what it would be in the locale's own writing
    when it is a well-written number of the other convention (decimal point and comma swapped)."""
    if {decimal, group} == {".", ","}:
        swapped = text.translate(str.maketrans(decimal + group, group + decimal))
        try:
            meant = parse_decimal(swapped, locale=locale, strict=True)
        except NumberFormatError:
            pass
        else:
            return _l(
                "“%(typed)s” is not written the way numbers are written here (%(example)s): "
                "did you mean %(suggestion)s?",
                typed=typed,
                example=example,
                suggestion=format_decimal(meant, locale=locale, decimal_quantization=False),
            )
    return _l("Please enter a number, written like %(example)s.", example=example)


def _finite(value: Decimal, locale: str) -> float:
    number = float(value)
    if number in (float("inf"), float("-inf")):
        raise UnreadableNumber(_l("This number is too large."))
    return number


def number_for_input(value: float, locale: str) -> str:
    """A number as an input field (or a table cell read as text) shows it, so that reading it again gives the
    same number:
    the locale's decimal mark, no thousands separator, every digit of the shortest exact form (repr), and never
    a form read_number would refuse as ambiguous."""
    exact = Decimal(repr(float(value)))
    if locale == MACHINE:
        return format(exact.normalize(), "f")
    with localcontext(prec=EVERY_DIGIT_OF_A_FLOAT):
        text = format_decimal(exact, format="0.#", locale=locale, decimal_quantization=False, group_separator=False)
    decimal = get_decimal_symbol(locale)
    if decimal in ".," and re.match(_LIKE_THOUSANDS.format(mark=re.escape(decimal)), text):
        return text + "0"  # 1,2340: 1,234 could also be read as 1234, and would be refused
    return text
