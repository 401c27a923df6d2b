"""The preview's HTTP server: one static page, its JSON state, and whitelisted run-folder files.

Standard library only (``http.server``), in daemon threads, bound to 127.0.0.1. Only these
paths exist; anything else is a 404, so nothing outside the run folder can be reached:

    /                       the page (page.html)
    /api/state?since=N&series=S   the state as JSON (loss points from index N of series S on)
    /frames/NNNNNN.png      a captured frame
    /source/NNNNNN.png      a clip's input frame, as painted (a clip's render only)
    /stylised/NNNNNN.png    a clip's painted frame (a clip's render only)
    /inputs/NAME            a photo or painting that inputs/ holds (exact names only)
    /final.png              the finished painting, once the render has ended
    /timelapse.mp4          the video, once made (HTTP Range requests supported)
"""

from __future__ import annotations

import http.server
import json
import logging
import re
import sys
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from timelapse_nst.errors import UserError
from timelapse_nst.preview.state import PreviewState
from timelapse_nst.runfolder.folder import FRAME_PATTERN

logger = logging.getLogger(__name__)
"""Requests the server drops: a page that went away (debug), a malformed or refused request
(info), a failure inside a handler (warning: a bug; shown on stderr when logging is not set up)."""

HOST = "127.0.0.1"
ACTIVE_SECONDS = 5.0  # a page that polled this recently is open (it polls every second)
CHUNK = 1 << 16
CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".mp4": "video/mp4",
}
# The page is inline HTML/CSS/JS that talks only to this server: no other origin is allowed.
PAGE_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self'; "
    "media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'"
)
_FRAME = re.compile("/frames/" + FRAME_PATTERN.pattern.strip("^$"))  # the run folder's own names
_CLIP_FRAME = re.compile("/(source|stylised)/" + FRAME_PATTERN.pattern.strip("^$"))
_INPUT = re.compile(r"/inputs/([A-Za-z0-9][A-Za-z0-9_.-]*)")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass
class Visitor:
    """A page that polls the state, named by the random id it sends (one per page load)."""

    last_seen: float
    saw_end: bool = False
    has_video: bool = False


class PreviewServer:
    """Serves ``state``'s page on 127.0.0.1:``port`` (0: a free port) from a daemon thread."""

    def __init__(self, state: PreviewState, *, port: int = 0) -> None:
        self.state = state
        self.page = resources.files("timelapse_nst.preview").joinpath("page.html").read_bytes()
        self._visitors: dict[str, Visitor] = {}
        self._changed = threading.Condition()
        self._ended_at: float | None = None
        try:
            self._httpd = _Server((HOST, port), _handler(self))
        except OSError as exc:
            raise UserError(f"cannot serve the preview on {HOST}:{port}: {exc.strerror or exc}") from None
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://{HOST}:{self.port}/"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.2,), name="preview-server", daemon=True
        )  # 0.2 s: how soon close() is noticed
        self._thread.start()

    def end(self) -> None:
        """The render is over (``state.ending`` is set): pages still open get to see the end."""
        with self._changed:
            self._ended_at = time.monotonic()
            self._changed.notify_all()

    def wait_for_pages(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until every open page has the end (and the video, if any).

        Returns immediately when no page is open, so a scripted render never waits for nobody.
        True when every page got it.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._waiting_for():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.25))
        return True

    def _waiting_for(self) -> list[str]:
        if self._ended_at is None:
            return []
        video = self.state.ending is not None and self.state.ending.video and not self.state.ending.error
        return [
            name
            for name, visitor in self._visitors.items()
            if visitor.last_seen >= self._ended_at - ACTIVE_SECONDS
            and not (visitor.has_video if video else visitor.saw_end)
        ]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- called by request handlers ------------------------------------------------------
    def seen(self, visitor: str, *, end: bool = False, video: bool = False) -> None:
        if not visitor:
            return
        with self._changed:
            entry = self._visitors.setdefault(visitor, Visitor(time.monotonic()))
            entry.last_seen = time.monotonic()
            entry.saw_end |= end
            entry.has_video |= video
            self._changed.notify_all()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A request that failed while being handled: logged in one line, never a traceback on the
        render's terminal; a page that closed mid-download is routine and logged as such."""
        error = sys.exc_info()[1]
        who = _address(client_address)
        if isinstance(error, (ConnectionError, TimeoutError)):
            logger.debug("preview: %s went away (%s)", who, type(error).__name__)
        else:
            logger.warning("preview: dropped a request from %s (%s: %s)", who, type(error).__name__, error)


def _address(client_address: Any) -> str:
    try:
        host, port = client_address[:2]
    except (TypeError, ValueError):
        return str(client_address)
    return f"{host}:{port}"


def _handler(server: PreviewServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(_Handler):
        preview = server

    return Handler


class _Handler(http.server.BaseHTTPRequestHandler):
    preview: PreviewServer
    protocol_version = "HTTP/1.1"  # keep-alive: a poll is one small request on an open connection
    timeout = 30  # an idle connection is closed (its thread ends) instead of waiting for the browser
    server_version = "timelapse-nst-preview"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("preview: %s %s", _address(self.client_address), format % args)  # not the terminal's business

    def log_error(self, format: str, *args: Any) -> None:
        """http.server's own refusals (a malformed request line, headers too long, a timeout)."""
        logger.info("preview: dropped a request from %s: %s", _address(self.client_address), format % args)

    def do_HEAD(self) -> None:
        self.do_GET(body=False)

    def do_GET(self, body: bool = True) -> None:
        if self.headers.get("Host") not in (f"{HOST}:{self.preview.port}", f"localhost:{self.preview.port}"):
            self.log_error("refused Host %r", self.headers.get("Host"))
            return self._error(403)  # DNS rebinding: another site's page must not read this one
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        path, state = url.path, self.preview.state
        if path == "/":
            return self._send(200, "text/html; charset=utf-8", self.preview.page, body, policy=True)
        if path == "/api/state":
            return self._state(query, body)
        if match := _FRAME.fullmatch(path):
            return self._file(state.frame_file(int(match[1])), body)
        if match := _CLIP_FRAME.fullmatch(path):
            return self._file(state.clip_file(match[1], int(match[2])), body)
        if match := _INPUT.fullmatch(path):
            return self._file(state.input_file(match[1]), body)
        if path == f"/{state.run.final.name}" and state.ending is not None:
            return self._file(state.run.final, body)
        if path == f"/{state.run.video.name}" and state.ending is not None and state.ending.video:
            return self._file(state.run.video, body, visitor=query.get("visitor", ""))
        return self._error(404)

    def _state(self, query: dict[str, str], body: bool) -> None:
        try:
            since = max(0, int(query.get("since", "0")))
            series = int(query["series"]) if "series" in query else None
        except ValueError:
            self.log_error("bad since=%r", query.get("since"))
            return self._error(400)
        snapshot = self.preview.state.snapshot(since, series)
        self.preview.seen(query.get("visitor", ""), end=snapshot["phase"] in ("done", "stopped"))
        data = json.dumps(snapshot, separators=(",", ":")).encode("utf-8")
        self._send(200, "application/json", data, body)

    def _file(self, path: Path | None, body: bool, *, visitor: str = "") -> None:
        content_type = CONTENT_TYPES.get(path.suffix.lower()) if path is not None else None
        try:
            file = open(path, "rb") if content_type and path and path.is_file() else None  # noqa: SIM115
        except OSError:
            file = None
        if file is None or content_type is None:
            return self._error(404)
        with file:
            size = file.seek(0, 2)
            (first, last), status, extra = (0, size - 1), 200, {}
            wanted = (self.headers.get("Range") or "").strip()
            if _RANGE.fullmatch(wanted):  # one range; several (or another unit) get the whole file
                span = _byte_range(wanted, size)
                if span is None:
                    return self._error(416, {"Content-Range": f"bytes */{size}"})
                (first, last), status = span, 206
                extra = {"Content-Range": f"bytes {first}-{last}/{size}"}
            self._head(status, content_type, last - first + 1, {"Accept-Ranges": "bytes", **extra})
            if body and self._copy(file, first, last - first + 1) and last == size - 1:
                self.preview.seen(visitor, video=True)

    def _copy(self, file: Any, offset: int, length: int) -> bool:
        """Write ``length`` bytes from ``offset``; False if the page went away meanwhile."""
        file.seek(offset)
        try:
            while length > 0:
                chunk = file.read(min(CHUNK, length))
                if not chunk:
                    return False  # the file shrank under us (a re-made video): give up
                self.wfile.write(chunk)
                length -= len(chunk)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return False
        return True

    def _send(self, status: int, content_type: str, data: bytes, body: bool, *, policy: bool = False) -> None:
        self._head(status, content_type, len(data), {"Content-Security-Policy": PAGE_POLICY} if policy else {})
        if body:
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    def _head(self, status: int, content_type: str, length: int, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()

    def _error(self, status: int, extra: dict[str, str] | None = None) -> None:
        message = f"{status} {http.HTTPStatus(status).phrase}\n".encode()
        self._head(status, "text/plain; charset=utf-8", len(message), extra or {})
        if self.command != "HEAD":
            self.wfile.write(message)


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The (first, last) byte of a single ``bytes=`` range, clipped to the file; None if unsatisfiable."""
    match = _RANGE.fullmatch(header)
    if match is None or size == 0 or match[1] == match[2] == "":
        return None
    if match[1] == "":  # bytes=-N: the last N bytes
        return (max(0, size - int(match[2])), size - 1) if int(match[2]) > 0 else None
    first = int(match[1])
    last = min(int(match[2]), size - 1) if match[2] else size - 1
    return (first, last) if first <= last else None
