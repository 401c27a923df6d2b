"""The live preview of a clip: the frame being painted and the painted clip so far.

A clip run folder laid out by ``clip_factory`` (no painting), a real server, the tracker fed with
steps as a clip's render emits them (each frame counts its iterations from the start), and the
page in headless Chromium.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch
from browser import chromium_page, wait_in
from clip_factory import SourceClip, make_clip_run, make_source_clip
from conftest import http_get
from runfolder_factory import make_run

from timelapse_nst.engine.loop import Step
from timelapse_nst.preview.notebook import describe
from timelapse_nst.preview.server import PreviewServer
from timelapse_nst.preview.state import PreviewState
from timelapse_nst.preview.tracker import Tracker

IMAGE = torch.zeros(1, 3, 2, 2)


def step(iteration: int, total: int = 8) -> Step:
    losses = {"content": 1.0 + iteration, "style": 10.0 / (1 + iteration), "tv": 0.5, "total": 20.0}
    return Step(iteration, total, 0, IMAGE, losses if iteration else {})


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> SourceClip:
    return make_source_clip(tmp_path_factory.mktemp("source") / "walk.mp4", seconds=2.0, flash=0.5)


def test_the_state_says_which_frame_is_painted_and_how_long_the_clip_has_left(tmp_path: Path, source: SourceClip):
    run = make_clip_run(tmp_path / "run", source, painted=5)  # 20 frames, 5 painted
    now = time.time()
    for index in range(5):  # frame 0 took 60 s, each later one 10 s; the last was written 4 s ago
        stamp = now - 4 - 10 * (4 - index) - (60 if index == 0 else 0)
        os.utime(run / "stylised" / f"{index:06d}.png", (stamp, stamp))
    tracker = Tracker(lambda i, total: False)
    state = PreviewState(run, tracker)
    for i in range(4):
        tracker(step(i))

    clip = state.snapshot()["clip"]
    assert (clip["frames"], clip["painted"], clip["painting"], clip["fps"]) == (20, 5, 5, 10.0)
    assert clip["remaining"] == pytest.approx(15 * 10 - 4, abs=1.0)  # at the later frames' pace
    assert state.snapshot()["inputs"][0] == {"role": "clip", "name": "walk.mp4", "url": "source/000000.png"}
    (run / "stylised" / "000005.png").write_bytes((run / "stylised" / "000004.png").read_bytes())
    assert state.snapshot()["clip"]["painting"] == 6  # the next one appears on the next poll
    line = describe(state.snapshot())
    assert line.startswith("painting: frame 7/20, iteration 3/8")


def test_each_frame_starts_its_own_loss_history(tmp_path: Path, source: SourceClip):
    run = make_clip_run(tmp_path / "run", source, painted=0)
    tracker = Tracker(lambda i, total: False)
    state = PreviewState(run, tracker)
    for i in range(9):  # frame 0
        tracker(step(i))
    assert [point[0] for point in state.snapshot()["losses"]["points"]] == list(range(1, 9))
    for i in range(3):  # frame 1: iterations start again
        tracker(step(i, total=4))
    snapshot = state.snapshot(8, series=0)  # the page holds frame 0's 8 points
    assert snapshot["losses"] == {
        "start": 0,
        "points": [[1, 2.0, 5.0, 0.5, 20.0], [2, 3.0, 10 / 3, 0.5, 20.0]],
        "series": 1,
    }
    assert (snapshot["iteration"], snapshot["total"]) == (2, 4)
    assert state.snapshot(2, series=1)["losses"] == {"start": 2, "points": [], "series": 1}


def test_only_a_clip_s_frames_are_served(tmp_path: Path, source: SourceClip):
    run = make_clip_run(tmp_path / "run", source, painted=3)
    server = PreviewServer(PreviewState(run, Tracker(lambda i, total: False)))
    still = PreviewServer(PreviewState(make_run(tmp_path / "still"), Tracker(lambda i, total: False)))
    try:
        assert http_get(server.port, "/stylised/000002.png") == (200, (run / "stylised" / "000002.png").read_bytes())
        assert http_get(server.port, "/source/000007.png") == (200, (run / "source" / "000007.png").read_bytes())
        assert http_get(server.port, "/stylised/000003.png")[0] == 404  # not painted yet
        for path in ("/stylised/../render.yaml", "/source/7.png", "/clip.jsonl", "/inputs/content.mp4x"):
            assert http_get(server.port, path)[0] == 404, path
        (tmp_path / "still" / "stylised").mkdir()
        (tmp_path / "still" / "stylised" / "000000.png").write_bytes(b"x")
        assert http_get(still.port, "/stylised/000000.png")[0] == 404  # a still render has no clip frames
    finally:
        server.close()
        still.close()


READ = """() => {
  const visible = (id) => !document.getElementById(id).hidden;
  const player = document.getElementById("player"), now = document.getElementById("now-source");
  return {
    count: visible("clip-count") ? document.getElementById("clip-frame").textContent + "/" +
           document.getElementById("clip-frames").textContent : null,
    player: visible("player") ? player.width : 0, frame: visible("frame"),
    now: visible("now") ? [now.naturalWidth, now.getAttribute("src")] : null,
    inputs: [...document.querySelectorAll("#inputs img")].map((image) => [image.alt, image.naturalWidth]),
    caption: document.getElementById("caption").textContent,
  };
}"""
PAGE = f"({READ})()"


@pytest.mark.slow
def test_the_page_plays_the_clip_so_far_beside_the_frame_being_painted(tmp_path: Path, source: SourceClip):
    run = make_clip_run(tmp_path / "run", source, painted=6)
    tracker = Tracker(lambda i, total: False)
    for i in range(3):
        tracker(step(i))
    server = PreviewServer(PreviewState(run, tracker))
    try:
        with chromium_page() as browser:
            browser.goto(server.url)
            wait_in(browser, f"(({READ})()).player === 64 && (({READ})()).now?.[0] > 0")
            page = browser.evaluate(PAGE)
            assert page["count"] == "7/20" and page["player"] == 64 and not page["frame"]
            assert page["now"] == [64, "source/000006.png"]
            assert page["inputs"][0] == ["clip: walk.mp4", 64]
            (run / "stylised" / "000006.png").write_bytes((run / "stylised" / "000005.png").read_bytes())
            wait_in(browser, f'(({READ})()).count === "8/20" && (({READ})()).caption.includes("7 painted frames")')
            assert browser.evaluate(PAGE)["now"][1] == "source/000007.png"
    finally:
        server.close()
