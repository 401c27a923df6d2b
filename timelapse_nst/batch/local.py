"""Run jobs on this machine: one after another, or ``workers`` at a time, each in its own process.

Each job runs in a child process (``python -m timelapse_nst.batch.worker``) even when one runs
at a time: a crash, a kill by the out-of-memory killer or a leak then ends that job only, and
each job starts from a fresh process exactly as a Ray task does. Children run in their own
process group, so a Ctrl-C in the terminal reaches only this process, which asks each running
job once (SIGTERM) to checkpoint and stop; a second Ctrl-C kills them (their last periodic
checkpoint stays). Where GPUs exist, worker slot i gets GPU i (modulo their number).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import timelapse_nst
from timelapse_nst.batch.folder import BatchFolder, Outcome
from timelapse_nst.batch.jobs import Job
from timelapse_nst.rendering.interruption import handling_signals

_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Task:
    """A job with the torch thread count it runs with (see ``worker.run_job``)."""

    job: Job
    threads: int


@dataclass
class RunReport:
    """What a runner did: each job's outcome, and whether the user stopped the batch."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    stopped: bool = False


class Runner(Protocol):
    """Runs tasks, keeps ``active`` (name → "queued"/"running") current, reports each outcome."""

    def run(
        self, tasks: list[Task], active: dict[str, str], on_outcome: Callable[[str, Outcome], None]
    ) -> RunReport: ...


@dataclass
class _Child:
    task: Task
    process: subprocess.Popen[bytes]
    stdout: IO[bytes]
    log: IO[bytes]
    asked_to_stop: bool = False


class StopRequests:
    """Counts Ctrl-C / SIGTERM while a batch runs (main thread only; elsewhere nothing is caught)."""

    def __init__(self) -> None:
        self.count = 0

    @contextmanager
    def catching(self) -> Iterator[StopRequests]:
        def handler(signum: int, frame: Any) -> None:
            self.count += 1

        with handling_signals(handler):
            yield self


class LocalRunner:
    """Runs tasks in at most ``workers`` child processes at once."""

    def __init__(self, folder: BatchFolder, *, weights: str, workers: int, gpus: list[str]) -> None:
        self.folder, self.weights, self.workers, self.gpus = folder, weights, workers, gpus

    def run(self, tasks: list[Task], active: dict[str, str], on_outcome: Callable[[str, Outcome], None]) -> RunReport:
        """Run ``tasks`` in order; ``active`` (name → "queued"/"running") is kept current for a display."""
        report = RunReport()
        queue = list(tasks)
        for task in queue:
            active[task.job.name] = "queued"
        slots: list[_Child | None] = [None] * self.workers
        with StopRequests().catching() as stops:
            while queue or any(slots):
                if stops.count == 0:
                    self._fill(slots, queue, active)
                else:
                    self._stop(slots, kill=stops.count > 1)
                    for task in queue:
                        active.pop(task.job.name, None)
                    queue.clear()
                for index, child in enumerate(slots):
                    if child is not None and child.process.poll() is not None:
                        slots[index] = None
                        outcome = _outcome(child, self.folder)
                        active.pop(child.task.job.name, None)
                        report.outcomes[child.task.job.name] = outcome
                        on_outcome(child.task.job.name, outcome)
                time.sleep(_POLL_SECONDS)
            report.stopped = stops.count > 0
        return report

    def _fill(self, slots: list[_Child | None], queue: list[Task], active: dict[str, str]) -> None:
        for index, child in enumerate(slots):
            if child is None and queue:
                task = queue.pop(0)
                slots[index] = self._start(task, index)
                active[task.job.name] = "running"

    def _start(self, task: Task, slot: int) -> _Child:
        env = dict(os.environ)
        package_root = str(Path(timelapse_nst.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        env["OMP_NUM_THREADS"] = str(task.threads)
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        command = [sys.executable, "-m", "timelapse_nst.batch.worker", "--batch", str(self.folder.root)]
        command += ["--weights", self.weights, "--threads", str(task.threads), "--parent", str(os.getpid())]
        command += ["--job", task.job.model_dump_json()]
        self.folder.jobs.mkdir(parents=True, exist_ok=True)
        stdout = tempfile.TemporaryFile()  # noqa: SIM115 -- closed when the child is collected
        log = open(self.folder.log(task.job.name), "ab")  # noqa: SIM115 -- the child's stderr, closed with it
        # Own process group: the terminal's Ctrl-C reaches only us; we ask each child once.
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=log, env=env, process_group=0
        )
        return _Child(task, process, stdout, log)

    def _stop(self, slots: list[_Child | None], *, kill: bool) -> None:
        for child in slots:
            if child is None or child.process.poll() is not None:
                continue
            if kill:
                child.process.kill()
            elif not child.asked_to_stop:
                child.process.send_signal(signal.SIGTERM)  # the render checkpoints, then exits
            child.asked_to_stop = True


def _outcome(child: _Child, folder: BatchFolder) -> Outcome:
    """The outcome the worker printed, or what its exit says about it."""
    child.stdout.seek(0)
    lines = child.stdout.read().decode("utf-8", errors="replace").strip().splitlines()
    child.stdout.close()
    child.log.close()
    code = child.process.returncode
    if lines:
        try:
            return Outcome.from_json(json.loads(lines[-1]))
        except (ValueError, KeyError, TypeError):
            pass
    if child.asked_to_stop:
        return Outcome("stopped", "stopped before its first checkpoint")
    log = folder.log(child.task.job.name)
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if code == -getattr(signal, "SIGKILL", 9) else ""  # no SIGKILL on Windows
        return Outcome("failed", f"the render process was killed by {name}{hint}; see {log}")
    return Outcome("failed", f"the render process exited with code {code}; see {log}")
