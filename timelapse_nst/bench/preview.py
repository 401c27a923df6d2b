"""What the live preview costs a render per iteration (the goal: at most +2%), with the page
polled by a page-like poller and open in headless Chromium, beside no preview at all.

The default render at the target size, capturing every iteration, no checkpoints, in interleaved
rounds that rotate their order, in up to three variants:

    off       no preview
    poller    ``preview="web"``, polled by a separate process that does what the page does
              (GET api/state?since=N every second, GET the newest frame when it changed)
    chromium  ``preview="web"`` with the real page open in headless Chromium (when one is found)

Each variant's figure is the lower quartile of its per-iteration times (as ``interleaved``).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
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


def chromium_binary() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


class _Viewer:
    """Opens a viewer on the preview link the render announces (through ``notify``)."""

    def __init__(self, kind: str, profile: Path) -> None:
        self.kind, self.profile = kind, profile
        self.process: subprocess.Popen[bytes] | None = None

    def notify(self, message: str) -> None:
        if not message.startswith("preview: http") or self.process is not None:
            return
        url = message.removeprefix("preview: ").strip()
        if self.kind == "poller":
            command = [sys.executable, "-c", POLLER, url]
        else:
            browser = chromium_binary() or "chromium"
            command = [
                browser,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={self.profile}",
                url,
            ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def close(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def measure_preview(settings: BenchSettings, work: Path) -> dict[str, Any]:
    """Seconds per iteration with the preview off, polled, and open in Chromium; overheads vs off."""
    variants = ["off", "poller"]
    notes = []
    if settings.preview_chromium and chromium_binary() is not None:
        variants.append("chromium")
    else:
        notes.append(
            "chromium not measured ("
            + ("no headless chromium found" if settings.preview_chromium else "off in these settings")
            + ")"
        )
    quiet = {
        "optimizer": {"iterations": settings.ab_iterations},
        "capture": {"spacing": "every", "every": 1},
        "checkpoint": {"every_iterations": None, "every_seconds": None},
    }
    config = bench_config(settings, settings.target_size, **quiet)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(settings.ab_rounds):
        for name in variants[round_ % len(variants) :] + variants[: round_ % len(variants)]:  # rotate the order
            viewer = _Viewer(name, work / f"preview-profile-{round_}")
            out = work / f"preview-{name}-{round_}"
            try:
                if name == "off":
                    run = run_ours(settings, config, out)
                else:
                    run = run_ours(settings, config, out, preview="web", notify=viewer.notify)
            finally:
                viewer.close()
            if name != "off" and viewer.process is None:
                raise RuntimeError("the render did not announce a preview link")
            times[name] += run.intervals()
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(viewer.profile, ignore_errors=True)
    quartile = {name: statistics.quantiles(values, n=4)[0] for name, values in times.items()}
    return {
        "size": settings.target_size,
        "iterations": settings.ab_iterations,
        "rounds": settings.ab_rounds,
        "seconds_per_iteration": quartile,
        "overhead": {name: quartile[name] / quartile["off"] - 1 for name in variants if name != "off"},
        "notes": notes,
    }


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
    return [
        (
            f"preview {' / '.join(seconds)} per iteration ({preview['rounds']} interleaved rounds)",
            f"{figures} ({overheads})" + (f"; {notes}" if notes else ""),
        )
    ]
