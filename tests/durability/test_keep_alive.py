"""A phone that autosaves every few seconds keeps its connection to the workers production runs under gunicorn
(gunicorn.conf.py): they keep an idle connection open 5 s, as uvicorn alone does, not gunicorn's own 2 s. At
workshop pace (a change every 2.5 to 7.5 s) a 2 s limit closes most connections between two saves: each new one
costs a phone on a poor network another handshake, and a save sent just as the server closes it fails."""

import http.client
import time

from bench.harness import Server, free_port, production_env


def test_an_idle_connection_stays_open_between_two_saves(database_url: str) -> None:
    port = free_port()
    server = Server("app.main:app", env=production_env(database_url, port), port=port, workers=2).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        opened = []
        for _ in range(2):
            connection.request("GET", "/login")
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200 and answer.getheader("Connection") != "close"
            opened.append(connection.sock)
            time.sleep(3)  # longer than gunicorn's default keep-alive, shorter than the 5 s configured
        assert opened[0] is opened[1]  # the second request went over the same connection
        connection.close()
    finally:
        server.stop()
