"""The preview's HTTP server: the page, the state JSON, whitelisted files, Range requests, the end."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import http_get
from runfolder_factory import make_run

from timelapse_nst.errors import UserError
from timelapse_nst.preview import open_preview
from timelapse_nst.preview.server import PreviewServer
from timelapse_nst.preview.state import Ending, PreviewState
from timelapse_nst.preview.tracker import Tracker

VIDEO = bytes(range(256)) * 40  # 10240 bytes standing in for timelapse.mp4


@pytest.fixture
def served(tmp_path: Path):
    run = make_run(tmp_path / "run", iterations=(0, 1, 2), total_iterations=4)
    (run / "timelapse.mp4").write_bytes(VIDEO)
    (run / "checkpoint.pt").write_bytes(b"private")
    (tmp_path / "secret.txt").write_text("outside the run folder")
    server = PreviewServer(PreviewState(run, Tracker(lambda i, total: True)))
    yield server
    server.close()


def get(server: PreviewServer, path: str, *, method: str = "GET", **headers: str) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_it_listens_on_127_0_0_1_only_on_a_free_port(served: PreviewServer):
    assert served.url == f"http://127.0.0.1:{served.port}/" and served.port > 0
    assert served._httpd.server_address[0] == "127.0.0.1"


def test_the_page_is_one_self_contained_file(served: PreviewServer):
    status, headers, body = get(served, "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert "<script>" in page and "<style>" in page
    for remote in ("http://", "https://", "//cdn", 'src="/', "@import"):
        assert remote not in page, f"the page must fetch nothing from elsewhere: {remote}"
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "connect-src 'self'" in headers["content-security-policy"]


def test_the_state_is_json_with_the_losses_from_where_the_page_is(served: PreviewServer):
    status, headers, body = get(served, "/api/state?since=0&visitor=abc")
    assert status == 200 and headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    state = json.loads(body)
    assert state["phase"] == "starting" and state["total"] == 4 and state["frame"] == 2
    assert [entry["url"] for entry in state["inputs"]] == ["inputs/content.jpg", "inputs/style.png"]
    assert get(served, "/api/state?since=x")[0] == 400


def test_only_whitelisted_files_of_the_run_folder_are_served(served: PreviewServer):
    run = served.state.root
    status, headers, body = get(served, "/frames/000001.png")
    assert (status, headers["content-type"], body) == (200, "image/png", (run / "frames/000001.png").read_bytes())
    status, headers, body = get(served, "/inputs/content.jpg")
    assert (status, headers["content-type"], body) == (200, "image/jpeg", (run / "inputs/content.jpg").read_bytes())
    assert headers["x-content-type-options"] == "nosniff"
    refused = [
        "/render.yaml",
        "/checkpoint.pt",
        "/log.jsonl",
        "/frames/000003.png",  # not captured
        "/frames/1.png",
        "/inputs/../render.yaml",
        "/inputs/..%2Frender.yaml",
        "/inputs/%2e%2e/render.yaml",
        "/frames/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/../secret.txt",
        "//etc/passwd",
        "/inputs/.lock",
        "/inputs/render.yaml",
        "/final.png",  # only once the render has ended
        "/timelapse.mp4",  # only once the render has made it
    ]
    for path in refused:
        status, _, body = get(served, path)
        assert status == 404, path
        assert b"outside" not in body and b"private" not in body


def test_a_request_for_another_host_is_refused(served: PreviewServer):
    """DNS rebinding: a page of evil.example resolved to 127.0.0.1 must not read the preview."""
    assert get(served, "/api/state", Host=f"evil.example:{served.port}")[0] == 403
    assert get(served, "/", Host=f"localhost:{served.port}")[0] == 200


def test_the_video_is_served_with_range_requests_once_made(served: PreviewServer):
    served.state.finish(Ending(video=True))
    status, headers, body = get(served, "/timelapse.mp4")
    assert (status, headers["content-type"], headers["accept-ranges"], body) == (200, "video/mp4", "bytes", VIDEO)
    cases = {
        "bytes=0-99": (0, 99),
        "bytes=100-": (100, len(VIDEO) - 1),
        "bytes=-256": (len(VIDEO) - 256, len(VIDEO) - 1),
        "bytes=10000-99999": (10000, len(VIDEO) - 1),  # clipped to the end
    }
    for wanted, (first, last) in cases.items():
        status, headers, body = get(served, "/timelapse.mp4", Range=wanted)
        assert status == 206, wanted
        assert headers["content-range"] == f"bytes {first}-{last}/{len(VIDEO)}"
        assert headers["content-length"] == str(last - first + 1)
        assert body == VIDEO[first : last + 1]
    status, headers, _ = get(served, "/timelapse.mp4", Range="bytes=20000-")
    assert status == 416 and headers["content-range"] == f"bytes */{len(VIDEO)}"
    assert get(served, "/timelapse.mp4", Range="bytes=0-1,5-9")[0] == 200  # several ranges: the whole file
    status, headers, body = get(served, "/timelapse.mp4", method="HEAD")
    assert status == 200 and headers["content-length"] == str(len(VIDEO)) and body == b""
    assert get(served, "/final.png")[0] == 200


def test_a_stopped_render_offers_no_video(served: PreviewServer):
    served.state.finish(Ending(video=False, error="stopped after iteration 2 of 4"))
    assert get(served, "/timelapse.mp4")[0] == 404
    assert json.loads(get(served, "/api/state")[2])["phase"] == "stopped"


def test_with_no_page_open_the_end_does_not_wait(served: PreviewServer):
    get(served, "/api/state")  # a client that says nothing of itself (a script): not a page
    served.state.finish(Ending(video=True))
    served.end()
    assert served.wait_for_pages(timeout=600) is True  # returns at once, or the test times out


def test_at_the_end_an_open_page_gets_the_video_before_the_server_stops(served: PreviewServer):
    get(served, "/api/state?visitor=page1")
    served.state.finish(Ending(video=True))
    served.end()
    assert served.wait_for_pages(timeout=0.2) is False  # the page has not fetched the video yet

    def page() -> None:
        state = json.loads(get(served, "/api/state?visitor=page1")[2])
        get(served, f"/{state['video']}&visitor=page1")

    thread = threading.Thread(target=page)
    thread.start()
    assert served.wait_for_pages(timeout=600) is True
    thread.join()


def test_a_busy_port_is_a_one_line_error(tmp_path: Path):
    run = make_run(tmp_path / "run")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"cannot serve the preview on 127.0.0.1:{port}"):
            PreviewServer(PreviewState(run, Tracker(lambda i, total: True)), port=port)


def test_the_session_announces_the_link_and_stops_the_server_with_the_render(tmp_path: Path):
    run = make_run(tmp_path / "run")
    notes: list[str] = []
    with open_preview("web", run, is_frame=lambda i, total: True, notify=notes.append) as hooks:
        assert len(hooks) == 1
        url = notes[0].removeprefix("preview: ")
        port = int(url.rsplit(":", 1)[1].strip("/"))
        assert http_get(port, "/")[0] == 200
    with pytest.raises(OSError):
        http_get(port, "/")
    with pytest.raises(ZeroDivisionError), open_preview("web", run, is_frame=lambda i, total: True):
        1 / 0  # an error in the render passes through unchanged


@pytest.mark.parametrize(
    ("kind", "port", "message"),
    [
        ("browser", None, "preview must be 'web', 'notebook' or None"),
        (None, 8000, "a preview port needs the web preview"),
        ("web", 70000, "must be 0..65535"),
    ],
)
def test_bad_preview_options_are_user_errors(tmp_path: Path, kind, port, message):
    with pytest.raises(UserError, match=message), open_preview(kind, tmp_path, is_frame=lambda i, t: True, port=port):
        pass


def test_the_preview_modules_do_not_import_torch():
    code = "import sys, timelapse_nst.preview\nassert 'torch' not in sys.modules, sorted(sys.modules)\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
