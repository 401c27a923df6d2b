"""The live preview in a real browser: headless Chromium watches a real render (a CLI subprocess).

Chromium is driven over the DevTools protocol (tests/devtools.py); the render uses seeded
random weights at 64 px, enough iterations for the page to poll several times while it paints.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import make_image, require_tool
from devtools import Chromium

ITERATIONS = 120
RENDER = [
    "--preset",
    "quick-preview",
    "--weights",
    "random",
    "--size",
    "64",
    "--iterations",
    str(ITERATIONS),
    "--set",
    "video.resolution=160x90",
    "--set",
    "video.duration=2",
    "--set",
    "video.fps=10",
    "--preview",
    "--quiet",
]
PAGE = """(() => {
  const text = (id) => document.getElementById(id).textContent;
  const frame = document.getElementById("frame"), video = document.getElementById("video");
  return {
    iteration: text("iteration"), total: text("total"), phase: document.getElementById("phase").className,
    frame: frame.hidden ? 0 : frame.naturalWidth, legend: document.getElementById("legend").children.length,
    inputs: [...document.querySelectorAll("#inputs img")].map((image) => [image.alt, image.naturalWidth]),
    video: {time: video.currentTime, paused: video.paused, ready: video.readyState, hidden: video.hidden,
            frames: video.getVideoPlaybackQuality().totalVideoFrames},
  };
})()"""


def wait_for(browser: Chromium, done, *, timeout: float = 180) -> list[dict]:
    """Read the page every 50 ms until ``done(page)``; returns every distinct reading."""
    readings: list[dict] = []
    deadline = time.monotonic() + timeout
    while not readings or not done(readings[-1]):
        if time.monotonic() > deadline:
            pytest.fail(f"the page never got there; last seen: {readings[-1:]}")
        page = browser.evaluate(PAGE)
        if not readings or page != readings[-1]:
            readings.append(page)
        time.sleep(0.05)
    return readings


@pytest.mark.slow
def test_the_page_follows_a_real_render_and_plays_the_video_at_the_end(tmp_path: Path):
    chromium = require_tool("chromium")
    photo = make_image(tmp_path / "photo.png", (64, 48), seed=1)
    painting = make_image(tmp_path / "painting.png", (40, 40), seed=2)
    command = [sys.executable, "-m", "timelapse_nst", "render", str(photo), str(painting), *RENDER]
    with Chromium(chromium, tmp_path / "profile") as browser:  # started first: ready when the link is
        render = subprocess.Popen([*command, "--out", str(tmp_path / "run")], stderr=subprocess.PIPE, text=True)
        try:
            url = preview_link(render)
            browser.navigate(url)
            painted = wait_for(browser, lambda page: page["phase"] == "done")
            playing = wait_for(browser, lambda page: page["video"]["time"] > 0 and not page["video"]["paused"])
            # The server stopped once the page had the video: the render exits by itself.
            assert render.wait(timeout=120) == 0
            after = browser.evaluate(PAGE)["video"]
            later = wait_for(browser, lambda page: page["video"]["time"] != after["time"])[-1]["video"]
        finally:
            if render.poll() is None:
                render.kill()
    # 1. The page loaded and showed the render: photo, painting, frames, losses.
    assert painted[-1]["inputs"] == [["photo: photo.png", 64], ["painting: painting.png", 40]]
    assert painted[-1]["legend"] == 4  # content, style, tv, total
    assert any(page["frame"] == 64 for page in painted if page["phase"] == "painting")
    # 2. The shown iteration went up while it painted, to the total.
    shown = [int(page["iteration"]) for page in painted if page["iteration"].isdigit()]
    assert shown == sorted(shown) and shown[-1] == ITERATIONS
    assert {page["total"] for page in painted if page["iteration"].isdigit()} == {str(ITERATIONS)}
    painting_values = {int(page["iteration"]) for page in painted if page["phase"] == "painting"}
    assert len(painting_values) >= 2, painted
    # 3. At the end the video plays, and keeps playing after the server has stopped.
    video = playing[-1]["video"]
    assert not video["hidden"] and video["ready"] >= 2 and video["frames"] > 0
    assert not later["paused"] and later["ready"] >= 2


def preview_link(render: subprocess.Popen) -> str:
    """The link the render prints on stderr; the rest of stderr is drained in the background."""
    assert render.stderr is not None
    lines: list[str] = []
    for line in render.stderr:
        lines.append(line)
        if line.startswith("preview: http://127.0.0.1:"):
            threading.Thread(target=render.stderr.read, daemon=True).start()
            return line.removeprefix("preview: ").strip()
    pytest.fail(f"no preview link; the render said: {''.join(lines)}")
