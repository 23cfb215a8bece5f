"""One error hierarchy; each error carries its HTTP status and a message a person can act on."""

from typing import Any

from pydantic import BaseModel, Field


class AppError(Exception):
    status_code = 400

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


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


class TooManyAttempts(AppError):
    """A rate limit was reached; retry_after (seconds) lets the handler send a Retry-After header."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


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
