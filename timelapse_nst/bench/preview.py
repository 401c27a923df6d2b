"""What the live preview costs a render per iteration (the goal: at most +2%), with the page
polled by a page-like poller and open in headless Chromium, beside no preview at all.

The default render at the target size, capturing every iteration, no checkpoints, in interleaved
rounds that rotate their order, in up to three variants:

    off       no preview
    poller    ``preview="web"``, polled by a separate process that does what the page does
              (GET api/state?since=N every second, GET the newest frame when it changed)
    chromium  ``preview="web"`` with the real page open in headless Chromium, driven by Playwright
              (when both are installed); its requests for the state are counted, and a page that
              stopped polling while the render painted fails the figure instead of flattering it

Each variant's figure is the lower quartile of its per-iteration times (as ``interleaved``).
"""

from __future__ import annotations

import importlib.util
import itertools
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from timelapse_nst.bench.ours import bench_config, run_ours
from timelapse_nst.bench.settings import BenchSettings

POLLER = r"""
import json, sys, time, urllib.request
url, since, frame = sys.argv[1], 0, None
while True:
    try:
        with urllib.request.urlopen(f"{url}api/state?since={since}&visitor=poller", timeout=5) as response:
            state = json.load(response)
        since = state["losses"]["start"] + len(state["losses"]["points"])
        if state["frame"] is not None and state["frame"] != frame:
            frame = state["frame"]
            urllib.request.urlopen(f"{url}frames/{frame:06d}.png", timeout=5).read()
    except OSError:
        break  # the server has stopped
    if state["phase"] in ("done", "stopped"):
        break
    time.sleep(1.0)
"""


CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--mute-audio"]

POLL_GAP = 5.0
"""The page polls the state once a second: a longer silence than this while the render paints
means it stopped polling, and its figure would measure nothing."""


def chromium_binary() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def _has_playwright() -> bool:
    return importlib.util.find_spec("playwright") is not None


class Poller:
    """A separate process doing what the page does, opened on the link the render announces."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def notify(self, message: str) -> None:
        if message.startswith("preview: http") and self.process is None:
            url = message.removeprefix("preview: ").strip()
            self.process = subprocess.Popen(
                [sys.executable, "-c", POLLER, url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )

    @property
    def opened(self) -> bool:
        return self.process is not None

    def close(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class ChromiumPage:
    """The real page in headless Chromium (driven by Playwright), opened on the link the render
    announces; each of its requests for the state is counted, with the time it started."""

    gap = POLL_GAP

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(executable_path=chromium_binary(), args=CHROMIUM_FLAGS)
        self._page = self._browser.new_page()
        self.polls: list[float] = []  # seconds since the epoch
        self.painted: list[float] = []  # when each iteration was painted, likewise
        self.opened = False
        self.polled = 0
        self._page.on("requestfinished", self._finished)

    def _finished(self, request: Any) -> None:
        if "/api/state?" in request.url:
            self.polls.append(request.timing["startTime"] / 1000)

    def notify(self, message: str) -> None:
        if message.startswith("preview: http") and not self.opened:
            self._page.goto(message.removeprefix("preview: ").strip())  # before painting starts
            self.opened = True

    def check_polling(self) -> None:
        """Count the page's requests for the state while the render painted (``polled``); a
        RuntimeError when it stopped polling (``gap`` seconds without one)."""
        self._page.evaluate("1")  # hands over the request events queued while the render held this thread
        first, last = self.painted[0], self.painted[-1]
        marks = [first, *sorted(t for t in self.polls if first < t < last), last]
        gap = max(b - a for a, b in itertools.pairwise(marks))
        self.polled = len(marks) - 2
        if gap > self.gap:
            raise RuntimeError(
                f"the preview page stopped polling: {len(self.polls)} requests for the state, none for "
                f"{gap:.1f} s while the render painted"
            )

    def close(self) -> None:
        self._browser.close()
        self._playwright.stop()


def measure_preview(settings: BenchSettings, work: Path) -> dict[str, Any]:
    """Seconds per iteration with the preview off, polled, and open in Chromium; overheads vs off."""
    variants = ["off", "poller"]
    notes = []
    missing = [
        what for what, here in (("headless chromium", chromium_binary()), ("playwright", _has_playwright())) if not here
    ]
    if settings.preview_chromium and not missing:
        variants.append("chromium")
    else:
        notes.append(
            "chromium not measured ("
            + (f"no {' or '.join(missing)}" if settings.preview_chromium else "off in these settings")
            + ")"
        )
    quiet = {
        "optimizer": {"iterations": settings.ab_iterations},
        "capture": {"spacing": "every", "every": 1},
        "checkpoint": {"every_iterations": None, "every_seconds": None},
    }
    config = bench_config(settings, settings.target_size, **quiet)
    times: dict[str, list[float]] = {name: [] for name in variants}
    polls: list[int] = []
    for round_ in range(settings.ab_rounds):
        for name in variants[round_ % len(variants) :] + variants[: round_ % len(variants)]:  # rotate the order
            out = work / f"preview-{name}-{round_}"
            times[name] += _one_render(settings, config, out, name, polls)
            shutil.rmtree(out, ignore_errors=True)
    quartile = {name: statistics.quantiles(values, n=4)[0] for name, values in times.items()}
    return {
        "size": settings.target_size,
        "iterations": settings.ab_iterations,
        "rounds": settings.ab_rounds,
        "seconds_per_iteration": quartile,
        "overhead": {name: quartile[name] / quartile["off"] - 1 for name in variants if name != "off"},
        "chromium_polls": polls,
        "notes": notes,
    }


def _one_render(settings: BenchSettings, config: Any, out: Path, name: str, polls: list[int]) -> list[float]:
    """One render with the preview ``name``: its per-iteration seconds (the page's polls go to ``polls``)."""
    if name == "off":
        return run_ours(settings, config, out).intervals()
    if name == "poller":
        return watched_render(settings, config, out, Poller())
    page = ChromiumPage()
    intervals = watched_render(settings, config, out, page)
    polls.append(page.polled)
    return intervals


def watched_render(settings: BenchSettings, config: Any, out: Path, viewer: Poller | ChromiumPage) -> list[float]:
    """A render with its preview page opened by ``viewer``: its per-iteration seconds. A page
    (Chromium) must have polled the state all along: else a RuntimeError."""
    # When each iteration was painted, for the page's polls: marked inside the timing hook, off the clock.
    mark = (lambda iteration: viewer.painted.append(time.time())) if isinstance(viewer, ChromiumPage) else None
    try:
        run = run_ours(settings, config, out, preview="web", notify=viewer.notify, between=mark)
        if not viewer.opened:
            raise RuntimeError("the render did not announce a preview link")
        if isinstance(viewer, ChromiumPage):
            viewer.check_polling()
    finally:
        viewer.close()
    return run.intervals()


# -- report parts ---------------------------------------------------------------------------

# The goal: the page open and polled costs a render at most this much per iteration.
TARGET_PREVIEW_OVERHEAD = 0.02


def preview_target(preview: dict[str, Any]) -> tuple[str, str, str, bool | None]:
    """The goal row: the page in Chromium where measured, else the page-like poller."""
    name = "chromium" if "chromium" in preview["overhead"] else "poller"
    value = preview["overhead"][name]
    what = "the preview page open and polled costs" + (" (a page-like poller)" if name == "poller" else "")
    return (what, f"{value:+.1%} per iteration", f"<= +{TARGET_PREVIEW_OVERHEAD:.0%}", value <= TARGET_PREVIEW_OVERHEAD)


def preview_lines(preview: dict[str, Any]) -> list[tuple[str, str]]:
    seconds = preview["seconds_per_iteration"]
    figures = " / ".join(f"{seconds[name]:.3f} s" for name in seconds)
    overheads = ", ".join(f"{name} {value:+.1%}" for name, value in preview["overhead"].items())
    notes = "; ".join(preview.get("notes", []))
    if preview.get("chromium_polls"):
        notes = "; ".join(filter(None, [f"the page polled {sum(preview['chromium_polls'])} times", notes]))
    return [
        (
            f"preview {' / '.join(seconds)} per iteration ({preview['rounds']} interleaved rounds)",
            f"{figures} ({overheads})" + (f"; {notes}" if notes else ""),
        )
    ]
