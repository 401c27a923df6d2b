"""The live preview in a real browser: headless Chromium watches a real render (a CLI subprocess).

Chromium is driven by Playwright (tests/browser.py); the render uses seeded random weights at
64 px, enough iterations for the page to poll several times while it paints. The page records
each of its own changes (a MutationObserver, plus every image load), so nothing is sampled on a
clock; the browser's requests are counted as the page makes them.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from browser import chromium_page, wait_in
from conftest import QUICK, make_image

ITERATIONS = 120
RENDER = [
    *QUICK,
    *f"--size 64 --iterations {ITERATIONS} --preview --quiet".split(),
    *["--set", "video.resolution=160x90", "--set", "video.duration=2", "--set", "video.fps=10"],
]
READ = """() => {
  const text = (id) => document.getElementById(id).textContent;
  const frame = document.getElementById("frame"), video = document.getElementById("video");
  return {
    iteration: text("iteration"), total: text("total"), phase: document.getElementById("phase").className,
    frame: frame.hidden ? 0 : frame.naturalWidth, legend: document.getElementById("legend").children.length,
    inputs: [...document.querySelectorAll("#inputs img")].map((image) => [image.alt, image.naturalWidth]),
    video: {time: video.currentTime, paused: video.paused, ready: video.readyState, hidden: video.hidden,
            frames: video.getVideoPlaybackQuality().totalVideoFrames},
  };
}"""
# Every distinct reading of the page, kept by the page itself whenever its DOM changes or an image loads.
RECORD = f"""document.addEventListener("DOMContentLoaded", () => {{
  const read = {READ};
  window.readings = [];
  const record = () => {{
    const now = read(), last = window.readings.at(-1);
    if (!last || JSON.stringify(last) !== JSON.stringify(now)) window.readings.push(now);
  }};
  new MutationObserver(record).observe(document.body, {{subtree: true, childList: true, characterData: true,
                                                      attributes: true}});
  document.addEventListener("load", record, true);
  record();
}});"""
VIDEO = 'document.getElementById("video")'


@pytest.mark.slow
def test_the_page_follows_a_real_render_and_plays_the_video_at_the_end(tmp_path: Path):
    photo = make_image(tmp_path / "photo.png", (64, 48), seed=1)
    painting = make_image(tmp_path / "painting.png", (40, 40), seed=2)
    command = [sys.executable, "-m", "timelapse_nst", "render", str(photo), str(painting), *RENDER]
    with chromium_page() as page:  # started first: ready when the link is
        polls: list[str] = []
        page.on("request", lambda request: polls.append(request.url) if "/api/state?" in request.url else None)
        page.add_init_script(RECORD)
        render = subprocess.Popen([*command, "--out", str(tmp_path / "run")], stderr=subprocess.PIPE, text=True)
        try:
            page.goto(preview_link(render))
            wait_in(page, 'document.getElementById("phase").className === "done"')
            polls_while_painting = len(polls)
            wait_in(page, f"{VIDEO}.currentTime > 0 && !{VIDEO}.paused")
            playing = page.evaluate(READ)
            # The server stopped once the page had the video: the render exits by itself.
            assert render.wait(timeout=120) == 0
            after = page.evaluate(f"{VIDEO}.currentTime")
            wait_in(page, f"{VIDEO}.currentTime !== arg", after)
            later = page.evaluate(READ)["video"]
            painted = page.evaluate("window.readings")
        finally:
            if render.poll() is None:
                render.kill()
    # 1. The page loaded and showed the render: photo, painting, frames, losses.
    done = next(reading for reading in painted if reading["phase"] == "done")
    assert done["inputs"] == [["photo: photo.png", 64], ["painting: painting.png", 40]]
    assert done["legend"] == 4  # content, style, tv, total
    assert any(reading["frame"] == 64 for reading in painted if reading["phase"] == "painting")
    # 2. It polled while the render painted, and the shown iteration went up, to the total.
    assert polls_while_painting >= 3, polls
    shown = [int(reading["iteration"]) for reading in painted if reading["iteration"].isdigit()]
    assert shown == sorted(shown) and shown[-1] == ITERATIONS
    assert {reading["total"] for reading in painted if reading["iteration"].isdigit()} == {str(ITERATIONS)}
    assert len({int(r["iteration"]) for r in painted if r["phase"] == "painting" and r["iteration"].isdigit()}) >= 2
    # 3. At the end the video plays, and keeps playing after the server has stopped.
    video = playing["video"]
    assert not video["hidden"] and video["ready"] >= 2 and video["frames"] > 0
    assert not later["paused"] and later["ready"] >= 2 and later["time"] != after


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
