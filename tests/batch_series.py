"""A tiny series for the batch tests: three good jobs and one damaged image, and its reference run.

The reference is the series run locally (two workers) once per test session; the local and the
Ray tests compare their paintings and frames with it byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import make_image, shared

from timelapse_nst.rendering.status import read_progress
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.runfolder.lock import FolderLock

# num_cpus: 1 → one torch thread per job, locally and on Ray alike (the bytes depend on it).
JOBS = """\
preset: quick-preview
num_cpus: 1
max_retries: 2
set: [size=40, optimizer.iterations=8, checkpoint.every_iterations=4, capture.spacing=every,
      video.resolution=96x54, video.duration=1, video.fps=10, video.preset=ultrafast, video.intro=0, video.hold=0.2]
jobs:
  - {name: quick, content: a.png, style: b.png, title: "A after B"}
  - {name: damaged, content: broken.png, style: b.png}
  - {name: slow, content: b.png, style: c.png, set: [optimizer.iterations=30, checkpoint.every_iterations=5]}
matrix: {content: [c.png], style: [[a.png, b.png]]}   # one job, painted in a blend of two styles
"""
GOOD = ("quick", "slow", "c-a+b")
SLOW_ITERATIONS = 30


def write_series(folder: Path, jobs: str = JOBS) -> Path:
    """The pictures (seeded: the same bytes in every process) and the jobs file beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    make_image(folder / "a.png", (40, 30), seed=1)
    make_image(folder / "b.png", (32, 40), seed=2)
    make_image(folder / "c.png", (40, 40), seed=3)
    (folder / "broken.png").write_bytes((folder / "a.png").read_bytes()[:150])  # cut short: damaged
    (folder / "jobs.yaml").write_text(jobs, encoding="utf-8")
    return folder / "jobs.yaml"


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "timelapse_nst", "batch", *args]


def batch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=200, check=False)


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def painting(run: Path) -> dict[str, bytes]:
    """final.png and every frame of a run folder, by name."""
    files = {"final.png": (run / "final.png").read_bytes()}
    files.update({f"frames/{p.name}": p.read_bytes() for p in sorted((run / "frames").iterdir())})
    return files


def checkpointed(run: Path) -> int:
    progress = read_progress(RunFolder(run))
    return int(progress["iteration"]) if progress else -1


def frames(run: Path) -> int:
    return len(RunFolder(run).frame_iterations())


def lock_holder(run: Path) -> int | None:
    """The pid recorded beside the run folder by the process holding its lock, if any."""
    return FolderLock(run).recorded_pid()


def attempts(folder: Path, name: str) -> int:
    """How many times a job was started: each start writes a header line into its log."""
    text = (folder / "jobs" / f"{name}.log").read_text()
    return sum(1 for line in text.splitlines() if line.startswith("--- "))


def reference_series(tmp_path_factory, worker_id: str) -> Path:
    """The series run locally with two workers, once per session: the batch folder."""

    def build(folder: Path) -> None:
        jobs = write_series(folder / "inputs")
        result = batch(str(jobs), "--out", str(folder / "batch"), "--weights", "random", "--workers", "2", "--quiet")
        (folder / "result.txt").write_text(f"{result.returncode}\n{result.stderr}")

    folder = shared(tmp_path_factory, worker_id, "batch-reference", build)
    code, _, stderr = (folder / "result.txt").read_text().partition("\n")
    assert code == "3", stderr  # some failed: the damaged one
    return folder / "batch"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
