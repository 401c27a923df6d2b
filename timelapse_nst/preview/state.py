"""What the preview page shows: the tracker's numbers plus the run folder, as one JSON-able dict.

Reads only the run folder (render.yaml, inputs/, frames/, log.jsonl, final.png, timelapse.mp4;
a clip's source/ and stylised/) and the tracker's in-memory copy: no torch, nothing written.
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
from timelapse_nst.runfolder.clip import ClipRecord, clip_record
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
        self._painted = 0  # a clip's painted frames seen so far (they only ever grow)
        self.ending: Ending | None = None

    def finish(self, ending: Ending) -> None:
        self.ending = ending

    # -- the page's JSON -----------------------------------------------------------------
    def snapshot(self, since: int = 0, series: int | None = None) -> dict[str, Any]:
        """Everything the page needs, with the loss points from index ``since`` on.

        Point indices count the log's earlier lines (a resume's past) first, then this
        process's steps, so a page asks only for what it has not got yet. A clip's frames each
        start a new series of points: a page that holds another ``series`` gets all of them.
        """
        if series is not None and series != self.tracker.restarts:
            since = 0
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
                "series": progress.restarts,
            },
            "latest": _finite(progress.latest or (history[-1] if history else ())),
            "inputs": self.inputs(),
            "final": self.run.final.name if self.ending and self.run.final.is_file() else None,
            "video": self._video_url(),
            "clip": self._clip(),
        }

    def _losses(self, since: int) -> tuple[list[tuple[float, ...]], Progress]:
        history = self._earlier_history()
        progress = self.tracker.progress(max(0, since - len(history or [])))
        if history is None and progress.first_iteration is not None:  # the first step came meanwhile
            history = self._earlier_history()
            progress = self.tracker.progress(max(0, since - len(history or [])))
        if progress.restarts:  # a clip's later frame: its own losses only
            history = []
            progress = self.tracker.progress(since)
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

    def _clip(self) -> dict[str, Any] | None:
        """A clip's frames: how many, how many painted, the one being painted, and the time left."""
        record = self.clip_record()
        if record is None:
            return None
        with self._lock:  # the server answers polls on several threads
            if self._painted and not self.run.stylised_frame(self._painted - 1).is_file():
                self._painted = 0  # another render in the folder (--restart): count again
            while self._painted < record.frames and self.run.stylised_frame(self._painted).is_file():
                self._painted += 1
            painted = self._painted
        painting = painted if painted < record.frames and self.ending is None else None
        return {
            "frames": record.frames,
            "painted": painted,
            "painting": painting,
            "fps": float(record.fps),
            "remaining": _frames_left(self.run, painted, record.frames) if painting is not None else None,
        }

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

    def clip_record(self) -> ClipRecord | None:
        """render.yaml's clip record (None: a still render, or render.yaml not written yet)."""
        try:
            return clip_record(self.manifest())
        except UserError:
            return None  # a damaged record: the page shows the render as a still's

    def inputs(self) -> list[dict[str, str]]:
        """The photo (a clip: its first frame) and the painting(s), in render.yaml's order, with
        the user's file names."""
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
            if self._inputs and self._inputs[0]["role"] == "photo" and self.clip_record() is not None:
                first = self.run.source_frame(0)  # a browser shows a picture, not any video format
                self._inputs[0] = {**self._inputs[0], "role": "clip", "url": f"source/{first.name}"}
        return self._inputs

    def input_file(self, name: str) -> Path | None:
        """The file behind ``inputs/<name>``, only if it is one of the listed inputs."""
        listed = {entry["url"] for entry in self.inputs()}
        return self.run.inputs / name if f"inputs/{name}" in listed else None

    def frame_file(self, iteration: int) -> Path:
        return self.run.frame_path(iteration)

    def clip_file(self, folder: str, index: int) -> Path | None:
        """A clip's ``source/`` or ``stylised/`` frame ``index`` (None for a still render)."""
        if self.clip_record() is None:
            return None
        return self.run.source_frame(index) if folder == "source" else self.run.stylised_frame(index)

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


def _frames_left(run: RunFolder, painted: int, frames: int) -> float | None:
    """Seconds until a clip is painted, at the pace of its later frames so far (the times their
    files were written); None until two of them are (frame 0 takes longer than the others)."""
    if painted < 3:
        return None
    try:
        first, last = (run.stylised_frame(index).stat().st_mtime for index in (1, painted - 1))
    except OSError:
        return None
    pace = (last - first) / (painted - 2)
    return max(0.0, (frames - painted) * pace - (time.time() - last))


def _remaining(progress: Progress, total: int | None) -> float | None:
    if progress.rate is None or progress.iteration is None or total is None:
        return None
    return max(0.0, (total - progress.iteration) / progress.rate - progress.seconds_since_step)


def _finite(point: tuple[float, ...]) -> list[float | None]:
    return [value if math.isfinite(value) else None for value in point]  # JSON has no NaN
