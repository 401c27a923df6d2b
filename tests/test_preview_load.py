"""The live preview under load, during a real render: 50 pages polling at once, plus malformed
requests (another Host, huge headers, `..` in the path, garbage, a request sent half-way). The
render finishes identical to one without a preview, nothing outside the run folder is served,
the server keeps answering, and what it drops is logged."""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import threading
from pathlib import Path

import pytest

from timelapse_nst import render

TINY = ["size=32", "optimizer.iterations=12", "checkpoint.every_iterations=4"]
POLLERS = 50
SECRET = b"SECRET-BESIDE-THE-RUN-FOLDER"
TRAVERSALS = [
    "/../secret.txt",
    "/frames/../../secret.txt",
    "/inputs/..%2F..%2Fsecret.txt",
    "/%2e%2e/%2e%2e/secret.txt",
    "/inputs/..\\..\\secret.txt",
    "/../.run.lock.holder",
    "/frames/../render.yaml",
]


def raw(port: int, data: bytes) -> bytes:
    """Send ``data`` as is (no client tidies it) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def status(answer: bytes) -> int:
    """The status of an answer; a request line too broken to have an HTTP version gets an
    HTTP/0.9 answer (no status line), whose page names the code."""
    if answer.startswith(b"HTTP/"):
        return int(answer.split(b" ", 2)[1])
    match = re.search(rb"Error code: (\d{3})", answer)
    assert match, answer[:200]
    return int(match[1])


class Load:
    """50 pollers and the malformed requests, aimed at the preview server once it is announced."""

    def __init__(self) -> None:
        self.port: int | None = None
        self.ready = threading.Event()  # malformed requests sent, every poller answered at least once
        self.stop = threading.Event()
        self.answered = [0] * POLLERS
        self.failures: list[str] = []
        self.malformed: dict[str, bytes] = {}
        self.half_sent: socket.socket | None = None
        self.threads: list[threading.Thread] = []

    def notify(self, message: str) -> None:
        if message.startswith("preview: http://"):
            self.port = int(message.rstrip("/").rsplit(":", 1)[1])
            self.threads = [threading.Thread(target=self.poll, args=(i,), daemon=True) for i in range(POLLERS)]
            self.threads.append(threading.Thread(target=self.attack, daemon=True))
            for thread in self.threads:
                thread.start()

    def poll(self, index: int) -> None:
        """A page: its state once in a while (keep-alive), and the newest frame, until the end."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        since = 0
        try:
            while not self.stop.is_set():
                connection.request("GET", f"/api/state?since={since}&visitor=page{index}")
                response = connection.getresponse()
                state = json.loads(response.read())
                if response.status != 200:
                    self.failures.append(f"poller {index}: {response.status}")
                    return
                since = state["losses"]["start"] + len(state["losses"]["points"])
                if state["frame"] is not None:
                    connection.request("GET", f"/frames/{state['frame']:06d}.png")
                    frame = connection.getresponse()
                    if frame.read()[:8] != b"\x89PNG\r\n\x1a\n" or frame.status != 200:
                        self.failures.append(f"poller {index}: frame {state['frame']}: {frame.status}")
                self.answered[index] += 1
                if state["phase"] in ("done", "stopped"):
                    return
                self.stop.wait(0.05)  # a page polls now and then, not in a busy loop
        except (OSError, http.client.HTTPException, ValueError) as error:
            self.failures.append(f"poller {index}: {type(error).__name__}: {error}")
        finally:
            connection.close()

    def attack(self) -> None:
        port, host = self.port, f"127.0.0.1:{self.port}".encode()
        assert port is not None
        # A request sent half-way, left hanging: it must not hold anyone else up.
        self.half_sent = socket.create_connection(("127.0.0.1", port))
        self.half_sent.sendall(b"GET /api/state HTTP/1.1\r\nHost: " + host + b"\r\nX-Waiting: ")
        close = b"Connection: close\r\n"  # else a kept-alive connection waits for the next request
        self.malformed["host"] = raw(port, b"GET /api/state HTTP/1.1\r\nHost: evil.example:1\r\n" + close + b"\r\n")
        self.malformed["long header"] = raw(
            port, b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n" + close + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n"
        )
        many = b"".join(b"X-%d: 1\r\n" % i for i in range(150))
        self.malformed["many headers"] = raw(port, b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n" + many + b"\r\n")
        self.malformed["garbage"] = raw(port, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n")
        for path in TRAVERSALS:
            request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            self.malformed[path] = raw(port, request.encode())
        self.malformed["after"] = raw(port, b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
        while min(self.answered) == 0 and not self.failures:  # every page has had an answer
            self.stop.wait(0.01)
        self.ready.set()


@pytest.mark.slow
def test_fifty_pollers_and_malformed_requests_during_a_render_change_nothing(
    tmp_path: Path, content_path, style_path, caplog
):
    (tmp_path / "secret.txt").write_bytes(SECRET)
    settings = {"preset": "quick-preview", "overrides": TINY, "weights": "random", "make_video": False}
    render(content_path, style_path, out=tmp_path / "reference", **settings)

    load = Load()

    def hold_until_loaded(step) -> None:  # the load happens while the render is under way
        if step.iteration == 4:
            assert load.ready.wait(timeout=200), "the load never got going"

    caplog.set_level(logging.INFO, logger="timelapse_nst.preview.server")
    try:
        watched = {"preview": "web", "notify": load.notify, "hooks": [hold_until_loaded]}
        render(content_path, style_path, out=tmp_path / "run", **settings, **watched)
    finally:
        load.stop.set()
        for thread in load.threads:
            thread.join(timeout=60)
        if load.half_sent is not None:
            load.half_sent.close()

    # The render is the same as without the preview, byte for byte.
    for name in ["final.png", "log.jsonl", *(f"frames/{p.name}" for p in (tmp_path / "reference/frames").iterdir())]:
        assert (tmp_path / "run" / name).read_bytes() == (tmp_path / "reference" / name).read_bytes(), name
    # Every page was answered all along; the malformed requests were refused, and nothing leaked.
    assert not load.failures and min(load.answered) >= 1
    assert status(load.malformed["host"]) == 403
    assert status(load.malformed["long header"]) == 431 and status(load.malformed["many headers"]) == 431
    assert status(load.malformed["garbage"]) == 400
    assert all(status(load.malformed[path]) in (400, 404) for path in TRAVERSALS)
    assert all(SECRET not in answer and b"config:" not in answer for answer in load.malformed.values())
    assert status(load.malformed["after"]) == 200
    # What was dropped is in the log, one line each; nothing failed inside a handler.
    dropped = [record.getMessage() for record in caplog.records if record.name == "timelapse_nst.preview.server"]
    assert any("refused Host 'evil.example:1'" in line for line in dropped)
    assert any("Line too long" in line for line in dropped) and any("Too many headers" in line for line in dropped)
    assert any("Bad request" in line for line in dropped)
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
