"""Reading staff forms. A refused form comes back with what was typed and the reason next to its field
(templates/_macros/forms.html), so these readers raise InvalidInput naming the field."""

from datetime import date

from pydantic import ValidationError

from app.errors import AppError, InvalidInput
from app.i18n.numbers import UnreadableNumber, read_number
from app.i18n.translation import Msg, _l


def refused(field: str, message: Msg) -> InvalidInput:
    return InvalidInput(message, details=[{"field": field, "message": message}])


def errors_by_field(exc: AppError, default: str) -> dict[str, str]:
    """{field: message} from an error's details (the last part of "body.closes_on"), else the message on `default`."""
    named = {str(d["field"]).split(".")[-1]: d["message"] for d in exc.details or [] if "field" in d}
    return named or {default: exc.message}


def typed_number(raw: str, field: str, locale: str) -> float | None:
    """A number as the staff member typed it, read as numbers are written in `locale` (app.i18n.numbers)."""
    if not raw.strip():
        return None
    try:
        return read_number(raw, locale)
    except UnreadableNumber as exc:
        raise refused(field, exc.message) from None


def typed_day(raw: str, field: str) -> date | None:
    """A date input's value (browsers send YYYY-MM-DD whatever they show); empty is none."""
    if not raw.strip():
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise refused(field, _l("Enter the date as YYYY-MM-DD.")) from None


def invalid_fields(exc: ValidationError) -> dict[str, Msg]:
    """A schema's refusal as one plain, translated message per field (pydantic's own are English only)."""
    errors: dict[str, Msg] = {}
    for error in exc.errors():
        name = str(error["loc"][-1]) if error["loc"] else "form"
        if error["type"] in ("missing", "string_too_short"):
            errors[name] = _l("Please fill this in.")
        elif error["type"] == "string_too_long":
            errors[name] = _l(
                "This is too long: at most %(max)s characters.", max=error.get("ctx", {}).get("max_length", "")
            )
        else:
            errors[name] = _l("This value is not valid here.")
    return errors
