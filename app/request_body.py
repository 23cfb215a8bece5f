"""Limits on what a client may send: a request body is read whole, up to a size and within a time, before the
app sees it.

A body larger than its limit gets 413 (up front when Content-Length says so, without reading it; otherwise as
soon as the bytes counted pass the limit, e.g. a chunked upload); a body that has not arrived in time gets 408.
A slow or huge upload therefore costs a worker nothing but waiting in its event loop, and the app never waits
on a client in the middle of a transaction (on SQLite a request that changes data holds the write lock from
its first statement).
"""

import re
from collections.abc import Awaitable, Callable, Sequence

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import AppError, TooLarge, TooSlow

Refuse = Callable[[Request, AppError], Awaitable[Response]]


class BodyLimit:
    """`max_bytes` for every route but those matching a pattern of `larger` (the import's stated limit);
    `timeout`: seconds from the first byte of the body to the last. `refuse` renders the
    refusal as every other error is (app.main.app_error)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        larger: Sequence[tuple[str, int]],
        timeout: float,
        refuse: Refuse,
    ) -> None:
        self.app, self.max_bytes, self.timeout, self.refuse = app, max_bytes, timeout, refuse
        self.larger = [(re.compile(pattern), limit) for pattern, limit in larger]

    def limit(self, path: str) -> int:
        return max([self.max_bytes, *(limit for pattern, limit in self.larger if pattern.fullmatch(path))])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        declared = Request(scope).headers.get("content-length", "")
        try:
            if declared.isdigit() and int(declared) > limit:
                raise _too_large(limit)
            with anyio.fail_after(self.timeout):
                body = await _read(receive, limit)
        except TimeoutError:
            late = TooSlow(
                "What was sent did not arrive within %(seconds)s seconds. Please try again.",
                seconds=round(self.timeout),
            )
            await self._refuse(scope, send, late)
            return
        except TooLarge as too_large:
            await self._refuse(scope, send, too_large)
            return
        if body is None:  # the client went away
            return
        await self.app(scope, _replay(body, receive), send)

    async def _refuse(self, scope: Scope, send: Send, error: AppError) -> None:
        request = Request(scope)
        response = await self.refuse(request, error)
        response.headers["Connection"] = "close"  # the rest of the body is never read
        await response(scope, _nothing_more, send)


def _has_body(scope: Scope) -> bool:
    headers = dict(scope["headers"])
    return headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers


async def _read(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(limit: int) -> TooLarge:
    return TooLarge("This is more than the %(megabytes)s MB this address accepts.", megabytes=f"{limit / 1e6:g}")


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body, read already, as the app asks for it; then whatever the server says next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _nothing_more() -> Message:
    return {"type": "http.disconnect"}
