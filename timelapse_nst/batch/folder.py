"""The batch folder: its layout, batch.yaml, each job's recorded outcome, and each job's state.

Layout (documented in docs/batch.md)::

    batch.yaml          the resolved jobs (absolute paths, overrides, resources), tool version
    runs/<job>/         each job's run folder (render.yaml, frames/, final.png, timelapse.mp4, ...)
    jobs/<job>.json     the last outcome the batch recorded for a job (failed + reason, stopped)
    jobs/<job>.log      what the job's render said (notes, warnings, a traceback if it crashed)
    gallery.png         every finished painting, labelled
    compilation.mp4     every timelapse in a row, a title card before each

A job's state is read from its run folder first (a finished render is done, whatever was
recorded), so the folder stays truthful when a worker dies without telling anyone. Torch-free.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from timelapse_nst.atomic import write_atomic
from timelapse_nst.batch.jobs import Job, JobsPlan
from timelapse_nst.errors import UserError
from timelapse_nst.rendering.status import read_progress, video_state
from timelapse_nst.runfolder.clip import clip_record, read_clip_log
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.runfolder.log import last_entry
from timelapse_nst.version import __version__

MANIFEST = "batch.yaml"
State = Literal["pending", "queued", "running", "stopped", "failed", "done"]


@dataclass(frozen=True)
class Outcome:
    """How one attempt at a job ended: done, stopped (checkpoint saved) or failed (one-line reason)."""

    state: Literal["done", "stopped", "failed"]
    reason: str = ""

    def to_json(self) -> dict[str, str]:
        return {"state": self.state, "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        return cls(state=data["state"], reason=str(data.get("reason", "")))


@dataclass(frozen=True)
class JobView:
    """One row of the status table."""

    name: str
    state: State
    iteration: int
    total: int | None
    losses: dict[str, float]
    video: str
    reason: str
    loss_weights: dict[str, float] = field(default_factory=dict)  # at the same iteration as ``losses``
    unit: str = ""  # "frame" for a clip: ``iteration``/``total`` count its painted frames


class BatchFolder:
    """Paths of one batch folder and the reads and writes on it."""

    def __init__(self, root: Path) -> None:
        # Every path of the folder, named once (as RunFolder names a run folder's): alike in shape.
        self.root = Path(root)
        self.manifest = self.root / MANIFEST
        self.runs = self.root / "runs"
        self.jobs = self.root / "jobs"
        self.gallery = self.root / "gallery.png"
        self.compilation = self.root / "compilation.mp4"
        self._totals: dict[Path, tuple[int, int | None]] = {}

    def run(self, name: str) -> Path:
        return self.runs / name

    def log(self, name: str) -> Path:
        return self.jobs / f"{name}.log"

    # -- batch.yaml ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the folder; refuse one that holds something other than a batch (never overwrite)."""
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"{self.root} is a file; choose another --out")
        if self.root.is_dir() and any(self.root.iterdir()) and not self.manifest.is_file():
            raise UserError(f"{self.root} is not empty and holds no batch ({MANIFEST}); choose another --out")
        try:
            self.runs.mkdir(parents=True, exist_ok=True)
            self.jobs.mkdir(exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the batch folder {self.root}: {exc.strerror or exc}") from None

    def write_manifest(self, plan: JobsPlan, jobs: list[Job], *, weights: str, runner: str) -> None:
        record = {
            "tool": {"name": "timelapse-nst", "version": __version__},
            "jobs_file": str(plan.source),
            "weights": weights,
            "runner": runner,
            "max_retries": plan.max_retries,
            "jobs": [{**job.model_dump(mode="json"), "run": f"runs/{job.name}"} for job in jobs],
        }
        text = yaml.safe_dump(record, sort_keys=False, allow_unicode=True, width=120)
        write_atomic(self.manifest, text.encode("utf-8"))

    def read_jobs(self) -> list[Job]:
        try:
            data = yaml.safe_load(self.manifest.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{self.root} is not a batch folder (no {MANIFEST})") from None
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise UserError(f"{self.manifest} is unreadable: {type(exc).__name__}") from None
        if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
            raise UserError(f"{self.manifest} is not a timelapse-nst batch record")
        try:
            return [Job.model_validate({k: v for k, v in entry.items() if k != "run"}) for entry in data["jobs"]]
        except (AttributeError, ValueError) as exc:
            raise UserError(f"{self.manifest}: a job record is damaged ({type(exc).__name__})") from None

    # -- outcomes -----------------------------------------------------------------------------
    def record(self, name: str, outcome: Outcome) -> None:
        entry = {**outcome.to_json(), "at": time.time()}
        write_atomic(self.jobs / f"{name}.json", json.dumps(entry).encode("utf-8"))

    def recorded(self, name: str) -> Outcome | None:
        try:
            return Outcome.from_json(json.loads((self.jobs / f"{name}.json").read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError):
            return None

    # -- state --------------------------------------------------------------------------------
    def is_done(self, name: str) -> bool:
        """Painting finished and its video made: nothing left for this job."""
        run = RunFolder(self.run(name))
        progress = read_progress(run)
        return bool(progress and progress.get("complete")) and run.final.is_file() and run.video.is_file()

    def view(self, name: str, *, live: dict[str, str] | None = None) -> JobView:
        """The job's row. ``live``: the running batch's own knowledge (name → "queued"/"running"),
        given when the table is redrawn while jobs run; it keeps each redraw cheap and never
        probes a lock (a probe at the moment a render starts would make that render refuse
        its folder): the pid a render writes into its lock is read instead."""
        run = RunFolder(self.run(name))
        total, unit = self._total(run)
        last = last_entry(run.log)
        iteration = last.iteration if last else 0
        losses = {k: float(v) for k, v in last.losses.items()} if last else {}
        weights = dict(last.loss_weights) if last else {}
        if unit == "frame":  # a clip: its painted frames, the last one's losses (clip.jsonl keeps no weights)
            painted = read_clip_log(run.clip_log)
            iteration, losses, weights = len(painted), dict(painted[-1].losses) if painted else {}, {}
        row = functools.partial(
            JobView, name, iteration=iteration, total=total, losses=losses, loss_weights=weights, unit=unit
        )
        done = self.is_done(name)
        if live is not None:
            video = "up to date" if done else "-"
            if name in live:
                running = live[name] == "running" or _lock_pid(run) is not None
                return row(state="running" if running else "queued", video=video, reason="")
        else:
            video = video_state(run) if run.manifest.is_file() else "-"
            if not done and run.holder() is not None:
                return row(state="running", video=video, reason="")
        if done:
            return row(state="done", video=video, reason="")
        recorded = self.recorded(name)
        if recorded is not None and recorded.state == "failed":
            return row(state="failed", video=video, reason=recorded.reason)
        started = run.manifest.is_file() or iteration > 0
        return row(state="stopped" if started else "pending", video=video, reason="")

    def _total(self, run: RunFolder) -> tuple[int | None, str]:
        """Total iterations (a clip: frames) from render.yaml, read once per version of the file
        (redraws are frequent), and which of the two it counts."""
        try:
            stamp = run.manifest.stat().st_mtime_ns
        except OSError:
            return None, ""
        cached = self._totals.get(run.root)
        if cached is None or cached[0] != stamp:
            cached = (stamp, _total_iterations(run))
            self._totals[run.root] = cached
        return cached[1]


def _total_iterations(run: RunFolder) -> tuple[int | None, str]:
    try:
        manifest = run.read_manifest()
        clip = clip_record(manifest)
        return (clip.frames, "frame") if clip is not None else (int(manifest["total_iterations"]), "")
    except (UserError, KeyError, TypeError, ValueError):
        return None, ""


def _lock_pid(run: RunFolder) -> int | None:
    """The pid a render recorded beside its run folder's lock (removed on a clean exit)."""
    return run.holder_pid()
