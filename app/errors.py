"""One error hierarchy; each error carries its HTTP status and a message a person can act on.

The message is an English gettext msgid: `make messages` extracts the first argument of every
AppError class named in the Makefile's keyword list, so write it as a literal with %(name)s
placeholders and pass the values as keyword arguments, e.g.
`InvalidInput("Please keep this under %(max)s characters.", max=MAX_TEXT)`. It is kept as a Msg
and translated when shown (error page, form, JSON body) into the reader's language.
"""

from typing import Any

from pydantic import BaseModel, Field

from app.i18n.translation import Msg


class AppError(Exception):
    status_code = 400

    def __init__(self, message: str, *, details: Any = None, **params: Any) -> None:
        self.message = message if isinstance(message, Msg) else Msg(message, **params)
        super().__init__(self.message)
        self.details = details

    def __str__(self) -> str:
        return self.message

    @property
    def headers(self) -> dict[str, str]:
        """Response headers the error calls for, on a page as in the API."""
        return {}


class NotFound(AppError):
    """Also used for objects the caller may not see, so ids cannot be probed."""

    status_code = 404


class Conflict(AppError):
    status_code = 409


class InvalidInput(AppError):
    status_code = 422


class Forbidden(AppError):
    status_code = 403


class Unauthorized(AppError):
    status_code = 401


class TooLarge(AppError):
    """A request body beyond the size the route accepts (and, for OpenRosa, announces)."""

    status_code = 413


class TooSlow(AppError):
    """A request body that did not arrive within the time a client is given to send it."""

    status_code = 408


class MailUnavailable(AppError):
    """The mail server is not set up, cannot be reached or refused a message; the request changes nothing."""

    status_code = 503


class TooManyAttempts(AppError):
    """A rate limit was reached; retry_after (seconds) lets the handler send a Retry-After header."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int, details: Any = None, **params: Any) -> None:
        super().__init__(message, details=details, **params)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class FieldProblem(BaseModel):
    field: str = Field(description='Where, e.g. "body.answers.0.value"')
    message: str


class Problem(BaseModel):
    """The body of every JSON API error (4xx), as the OpenAPI schema documents it."""

    detail: str
    errors: list[FieldProblem] | None = Field(default=None, description="One entry per rejected field")


# Documented on every API router: FastAPI's default 422 schema does not describe the body sent here.
API_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": Problem, "description": "Not found, not allowed, conflict or invalid input"}
}
