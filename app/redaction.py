"""Secrets never reach a log: member tokens travel in URL paths (/m/<token>, /openrosa/m/<token>/...), which
uvicorn's access log writes out, and an API token pasted into a URL would be written the same way.

A logging filter on the loggers that write request lines and errors rewrites each record before any handler
formats it, so it holds whatever log configuration the server runs with (uvicorn --log-config included).
"""

import logging
import re
from typing import Any

from app.auth.security import API_TOKEN_PREFIX

_MEMBER_PATH = re.compile(r"(/(?:openrosa/)?m/)[^/?#\s\"']+")
_API_TOKEN = re.compile(re.escape(API_TOKEN_PREFIX) + r"[A-Za-z0-9_\-]{8,}")
REDACTED = "[redacted]"
# uvicorn's request lines and its errors, and the app's own messages.
LOGGERS = ("uvicorn.access", "uvicorn.error", "clusterscore")


def redact(text: str) -> str:
    return _API_TOKEN.sub(API_TOKEN_PREFIX + REDACTED, _MEMBER_PATH.sub(r"\1" + REDACTED, text))


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class SecretRedaction(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redacted(v) for k, v in record.args.items()}
        return True


def install() -> None:
    """Idempotent: create_app runs once per process, tests run it many times."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretRedaction) for f in logger.filters):
            logger.addFilter(SecretRedaction())
