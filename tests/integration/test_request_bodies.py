"""Slow and huge request bodies (app.request_body), against the app under a real uvicorn server: a body larger
than its limit is refused with 413 without being read, one that does not arrive in time with 408, and clients
dribbling their bodies hold nothing the other requests need."""

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.live_server import LiveServer, live_server

MAX_BODY = 100_000
TIMEOUT = 3
NO_SUCH_TOKEN = {"Authorization": "Bearer cs_no-such-token"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    limits = {"MAX_BODY_BYTES": str(MAX_BODY), "BODY_TIMEOUT_SECONDS": str(TIMEOUT)}
    with live_server(tmp_path_factory.mktemp("bodies"), env=limits) as running:
        yield running


def _open(server: LiveServer, head: str, body: bytes = b"") -> socket.socket:
    """A request sent by hand: its head, and as much of its body as given."""
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
    return sock


def _reply(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (it does after refusing a body)."""
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    return reply


def _status(sock: socket.socket) -> int:
    return int(_reply(sock).split(b" ", 2)[1])


def _login_head(length: int | None) -> str:
    size = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return f"POST /login HTTP/1.1\nHost: x\nContent-Type: application/x-www-form-urlencoded\n{size}\n"


def test_ten_slow_uploads_do_not_stop_the_login_page(server: LiveServer) -> None:
    slow = [_open(server, _login_head(100_000), b"email=a") for _ in range(10)]
    try:
        for _ in range(3):
            started = time.monotonic()
            page = httpx.get(f"{server.url}/login", timeout=10)
            assert page.status_code == 200 and "<form" in page.text
            assert time.monotonic() - started < 5  # generous: it is not waiting behind the uploads at all
        wrong = httpx.post(f"{server.url}/login", data={"email": "a@b.org", "password": "x"}, timeout=10)
        assert wrong.status_code == 403  # a post without the CSRF token: answered, not queued
        # The slow clients are turned away once their time is up.
        assert [_status(sock) for sock in slow] == [408] * 10
    finally:
        for sock in slow:
            sock.close()


def test_a_body_declared_too_large_is_refused_before_it_is_sent(server: LiveServer) -> None:
    sock = _open(server, _login_head(50_000_000))  # not one byte of the body follows
    try:
        started = time.monotonic()
        reply = _reply(sock)
        assert time.monotonic() - started < TIMEOUT  # answered at once, not after waiting for the body
        assert reply.startswith(b"HTTP/1.1 413") and b"0.1 MB" in reply and b"<html" in reply
    finally:
        sock.close()


def test_a_chunked_body_is_counted_and_refused_once_past_the_limit(server: LiveServer) -> None:
    sock = _open(server, _login_head(None))
    try:
        chunk = b"x" * 30_000
        for _ in range(4):  # 120,000 bytes: past the limit with the fourth chunk
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        assert _status(sock) == 413
    finally:
        sock.close()


def test_the_api_answers_in_json_and_the_import_keeps_its_larger_limit(server: LiveServer) -> None:
    big = {"name": "x" * (MAX_BODY + 1)}
    refused = httpx.post(f"{server.url}/api/v1/me/tokens", json=big, timeout=10)
    assert refused.status_code == 413
    assert refused.json() == {"detail": "This is more than the 0.1 MB this address accepts."}
    upload = httpx.post(
        f"{server.url}/api/v1/rounds/1/imports",
        files={"file": ("answers.csv", b"p\n" * MAX_BODY)},
        headers=NO_SUCH_TOKEN,
        timeout=10,
    )
    assert upload.status_code == 401  # read whole and passed on: only the credentials are refused


def test_a_body_within_the_limit_reaches_the_app(server: LiveServer) -> None:
    body = {"name": "x" * (MAX_BODY - 100)}
    accepted = httpx.post(f"{server.url}/api/v1/me/tokens", json=body, headers=NO_SUCH_TOKEN, timeout=10)
    assert accepted.status_code == 401 and "token" in accepted.json()["detail"]  # the app itself answered
