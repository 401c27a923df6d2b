"""One job, run inside a worker: a local subprocess (``python -m timelapse_nst.batch.worker``)
or a Ray task. Both call ``run_job``, so a job gives the same bytes wherever it runs.

``run_job`` never raises for the job's own failures: a damaged image, a bad value, an
out-of-memory error all come back as ``Outcome("failed", "<one line>")`` so one job's trouble
stays with that job. Its render continues a run folder that already holds it (``api.render``
resumes), which is what makes a stopped or retried job pick up at its last checkpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from timelapse_nst.allocator import keep_freed_memory
from timelapse_nst.batch.folder import BatchFolder, Outcome
from timelapse_nst.batch.jobs import Job
from timelapse_nst.errors import ExitCode, UserError, one_line
from timelapse_nst.runfolder.folder import RunFolder


def run_job(job: Job, batch_dir: str, *, weights: str, threads: int, lock_wait: float = 0.0) -> Outcome:
    """Render ``job`` into ``<batch_dir>/runs/<name>`` with ``threads`` torch threads.

    ``threads`` is set explicitly (not left to the machine) because the thread count changes
    float rounding: the same count locally and on Ray gives byte-identical paintings.
    ``lock_wait``: seconds to wait for a folder still held by a lost attempt (a lock on a
    network filesystem outlives its dead holder until the server's lease expires).
    """
    keep_freed_memory()  # a worker's process is ours, local or on Ray (allocator.py)
    folder = BatchFolder(Path(batch_dir))
    with _job_log(folder.log(job.name)) as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} on {socket.gethostname()} (pid {os.getpid()})\n")
        try:
            _render(job, folder.run(job.name), weights=weights, threads=threads, lock_wait=lock_wait, log=log)
            return Outcome("done")
        except UserError as exc:  # a stop (Interrupted) is a UserError too
            log.write(f"{exc}\n")
            return Outcome("stopped" if ExitCode.is_stop(exc.exit_code) else "failed", str(exc))
        except KeyboardInterrupt:
            log.write("stopped at once (a second Ctrl-C); the last checkpoint is kept\n")
            return Outcome("stopped", "stopped at once; the last checkpoint is kept")
        except Exception as exc:  # anything else (out of memory, ...) fails this job only
            traceback.print_exc(file=log)
            return Outcome("failed", one_line(f"{type(exc).__name__}: {exc}"))


def _render(job: Job, run: Path, *, weights: str, threads: int, lock_wait: float, log: IO[str]) -> None:
    import torch

    from timelapse_nst import api

    torch.set_num_threads(threads)
    if lock_wait > 0:
        _wait_for_lock(RunFolder(run), lock_wait)
    api.render(
        job.content,
        job.style,  # one painting or several (a blend, a morph)
        out=run,
        preset=job.preset,
        overrides=job.overrides(),
        weights=weights,
        notify=lambda message: log.write(message + "\n"),
    )


def _wait_for_lock(run: RunFolder, seconds: float) -> None:
    """Wait until no live process holds ``run`` (checked with our own lock, then let go)."""
    if not run.manifest.is_file():
        return
    deadline = time.monotonic() + seconds
    while True:
        try:
            run.lock()
            run.unlock()
            return
        except UserError:
            if time.monotonic() > deadline:
                return  # the render itself reports who holds it
            time.sleep(2.0)


@contextlib.contextmanager
def _job_log(path: Path) -> Iterator[IO[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8", buffering=1) as log:
        yield log


def probe_folder(batch_dir: str, token: str) -> str:
    """Ray: prove this node sees the driver's batch folder (reads its probe, writes one back)."""
    folder = Path(batch_dir)
    try:
        if (folder / f".probe-{token}").read_text(encoding="utf-8") != token:
            return f"{socket.gethostname()} sees another {folder}"
        (folder / f".probe-{token}-{socket.gethostname()}-{os.getpid()}").write_text(token, encoding="utf-8")
    except OSError as exc:
        return f"{socket.gethostname()} cannot use {folder}: {exc.strerror or exc}"
    return ""


# -- the local worker process ------------------------------------------------------------------


def _die_with_parent() -> None:
    """Linux: SIGTERM us when the batch process dies, so an orphaned render checkpoints and stops."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    """Run one job and print its outcome as JSON on the last line of stdout."""
    parser = argparse.ArgumentParser(prog="python -m timelapse_nst.batch.worker")
    parser.add_argument("--batch", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True, help="pid of the batch process")
    parser.add_argument("--job", required=True, help="the job as JSON")
    args = parser.parse_args(argv)
    _die_with_parent()
    if os.getppid() != args.parent:  # the parent died before prctl took effect
        return 1
    # SIGTERM outside the painting loop (loading, encoding the video) stops like a Ctrl-C;
    # inside it, the render's own handler checkpoints first.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    outcome = run_job(Job.model_validate_json(args.job), args.batch, weights=args.weights, threads=args.threads)
    print(json.dumps(outcome.to_json()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
