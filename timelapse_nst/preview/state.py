"""What the preview page shows: the tracker's numbers plus the run folder, as one JSON-able dict.

Reads only the run folder (render.yaml, inputs/, frames/, log.jsonl, final.png, timelapse.mp4)
and the tracker's in-memory copy: no torch, nothing written.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from timelapse_nst.errors import UserError
from timelapse_nst.preview.tracker import Progress, Tracker, newest_frame
from timelapse_nst.runfolder.folder import RunFolder


@dataclass(frozen=True)
class Ending:
    """How the render ended: painted (with or without a fresh video), or stopped with a message."""

    video: bool
    error: str | None = None


class PreviewState:
    """Builds the page's state from a ``Tracker`` and the run folder ``root``; thread-safe."""

    def __init__(self, root: Path, tracker: Tracker) -> None:
        self.run = RunFolder(root)
        self.root = self.run.root
        self.tracker = tracker
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._manifest: dict[str, Any] = {}  # read once it exists (a new render writes it after we start)
        frames = self.run.frame_iterations()
        self._last_frame: int | None = frames[-1] if frames else None  # one scan, at start
        self._history: list[tuple[float, ...]] | None = None  # log lines from before this process
        self._history_names: tuple[str, ...] = ()
        self._inputs: list[dict[str, str]] = []
        self.ending: Ending | None = None

    def finish(self, ending: Ending) -> None:
        self.ending = ending

    # -- the page's JSON -----------------------------------------------------------------
    def snapshot(self, since: int = 0) -> dict[str, Any]:
        """Everything the page needs, with the loss points from index ``since`` on.

        Point indices count the log's earlier lines (a resume's past) first, then this
        process's steps, so a page asks only for what it has not got yet.
        """
        history, progress = self._losses(since)
        iteration = progress.iteration
        if iteration is None and history:
            iteration = int(history[-1][0])
        total = progress.total if progress.total is not None else self._manifest_total()
        earlier = history[since:]
        return {
            "title": self.title(),
            "phase": self._phase(iteration, total),
            "message": self.ending.error if self.ending else None,
            "iteration": iteration,
            "total": total,
            "scale": progress.scale,
            "rate": progress.rate,
            "remaining": _remaining(progress, total),
            "elapsed": time.monotonic() - self._started,
            "frame": self._frame(progress),
            "names": list(progress.names or self._history_names),
            "losses": {
                "start": since if earlier else len(history) + progress.start,
                "points": [_finite(point) for point in (*earlier, *progress.points)],
            },
            "latest": _finite(progress.latest or (history[-1] if history else ())),
            "inputs": self.inputs(),
            "final": self.run.final.name if self.ending and self.run.final.is_file() else None,
            "video": self._video_url(),
        }

    def _losses(self, since: int) -> tuple[list[tuple[float, ...]], Progress]:
        history = self._earlier_history()
        progress = self.tracker.progress(max(0, since - len(history or [])))
        if history is None and progress.first_iteration is not None:  # the first step came meanwhile
            history = self._earlier_history()
            progress = self.tracker.progress(max(0, since - len(history or [])))
        return history or [], progress

    def _phase(self, iteration: int | None, total: int | None) -> str:
        if self.ending is not None:
            return "stopped" if self.ending.error else "done"
        if iteration is None:
            return "starting"
        return "finishing" if total is not None and iteration >= total else "painting"

    def _frame(self, progress: Progress) -> int | None:
        found = newest_frame(self.run, progress.frames, self._last_frame)
        self._last_frame = found
        return found

    def _video_url(self) -> str | None:
        if not (self.ending and self.ending.video and not self.ending.error):
            return None
        try:
            stamp = self.run.video.stat().st_mtime_ns
        except OSError:
            return None
        return f"{self.run.video.name}?v={stamp}"  # a new video is a new URL: never a stale cached one

    # -- run folder ------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        if not self._manifest:
            try:
                self._manifest = self.run.read_manifest()
            except UserError:
                return {}  # not written yet (a new render writes it after its inputs)
        return self._manifest

    def title(self) -> str:
        video = self.manifest().get("config", {}).get("video") or {}
        title = video.get("title") if isinstance(video, dict) else None
        return str(title) if title else self.root.name

    def inputs(self) -> list[dict[str, str]]:
        """The photo and the painting(s), in render.yaml's order, with the user's file names."""
        if not self._inputs and self.manifest():
            content, styles = self.run.input_files(self.manifest())
            folder = self.run.inputs.resolve()
            self._inputs = [
                {
                    "role": "photo" if entry.role == "content" else "painting",
                    "name": entry.name,
                    "url": f"inputs/{entry.path.name}",
                }
                for entry in (content, *styles)
                if entry.path is not None and entry.path.parent == folder  # files in inputs/ only
            ]
        return self._inputs

    def input_file(self, name: str) -> Path | None:
        """The file behind ``inputs/<name>``, only if it is one of the listed inputs."""
        listed = {entry["url"] for entry in self.inputs()}
        return self.run.inputs / name if f"inputs/{name}" in listed else None

    def frame_file(self, iteration: int) -> Path:
        return self.run.frame_path(iteration)

    def _manifest_total(self) -> int | None:
        total = self.manifest().get("total_iterations")
        return total if isinstance(total, int) else None

    def _earlier_history(self) -> list[tuple[float, ...]] | None:
        """log.jsonl lines from before this process painted (a resume's past), read once.

        Read only after the first step (or at the end): by then a resume has cut the log back
        to its checkpoint, so every line before the first new iteration is history. None
        before that (the tracker has no points yet either).
        """
        with self._lock:
            if self._history is None:
                first = self.tracker.first_iteration
                if first is None and self.ending is None:
                    return None
                self._history_names, self._history = _read_log(self.run.log, below=first)
            return self._history


def _read_log(path: Path, *, below: int | None) -> tuple[tuple[str, ...], list[tuple[float, ...]]]:
    """(loss names, points) of log.jsonl's complete lines with an iteration below ``below``."""
    names: tuple[str, ...] = ()
    points: list[tuple[float, ...]] = []
    try:
        lines = path.read_bytes().split(b"\n")[:-1]  # the part after the last newline may be cut
    except OSError:
        return names, points
    for line in lines:
        try:
            record = json.loads(line)
            iteration, losses = int(record["iteration"]), dict(record["losses"])
            if below is not None and iteration >= below:
                break
            names = names or tuple(losses)
            points.append((iteration, *(float(losses.get(name, math.nan)) for name in names)))
        except (ValueError, KeyError, TypeError):
            continue  # a damaged line: the page shows the others
    return names, points


def _remaining(progress: Progress, total: int | None) -> float | None:
    if progress.rate is None or progress.iteration is None or total is None:
        return None
    return max(0.0, (total - progress.iteration) / progress.rate - progress.seconds_since_step)


def _finite(point: tuple[float, ...]) -> list[float | None]:
    return [value if math.isfinite(value) else None for value in point]  # JSON has no NaN
