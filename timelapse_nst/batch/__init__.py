"""Batch: many renders from one jobs file, on this machine or on a Ray cluster, every job resumable.

This module only wires the stages: jobs file -> batch folder -> runner (local or Ray) -> results.
Each job is an ordinary render (``api.render``) into its own run folder, so everything that
holds for one render holds per job: Ctrl-C checkpoints, a re-run continues, a run folder
can be assembled, resumed or inspected on its own.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from timelapse_nst.batch.folder import BatchFolder, JobView, Outcome
from timelapse_nst.batch.jobs import Job, JobsPlan, load_jobs
from timelapse_nst.batch.local import Runner, RunReport, Task
from timelapse_nst.errors import UserError
from timelapse_nst.rendering.inputs import weights_source

__all__ = ["BatchFolder", "BatchResult", "Job", "Outcome", "load_jobs", "run_batch"]

Notify = Callable[[str], None]
Display = Callable[[BatchFolder, list[str], dict[str, str]], AbstractContextManager[object]]


@dataclass(frozen=True)
class BatchResult:
    folder: Path
    views: list[JobView]
    stopped: bool
    gallery: Path | None
    compilation: Path | None

    @property
    def failed(self) -> list[JobView]:
        return [view for view in self.views if view.state == "failed"]


def run_batch(
    jobs_file: str | Path,
    *,
    out: str | Path | None = None,
    weights: str | None = None,
    workers: int = 1,
    ray: str | None = None,
    notify: Notify = lambda message: None,
    display: Display | None = None,
) -> BatchResult:
    """Run every unfinished job of ``jobs_file`` into ``out`` (default ``runs/<jobs file name>``).

    ``ray``: None runs locally with ``workers`` processes; "auto" or a cluster address runs
    each job as a Ray task. ``display(folder, names, active)`` may return a context manager
    that shows progress while the jobs run (the CLI's live table).
    """
    # 1. Check everything before anything runs.
    plan = load_jobs(jobs_file)
    weights = weights_source(weights)  # made absolute: workers may run elsewhere
    if workers < 1:
        raise UserError(f"--workers must be 1 or more (got {workers})")
    if ray is not None and workers != 1:
        raise UserError("--workers is for local runs; on Ray each job takes num_cpus / num_gpus from the jobs file")
    folder = BatchFolder(Path(out) if out is not None else Path("runs") / Path(jobs_file).stem)
    folder.prepare()
    # 2. Resources of each job, then the record of what will run.
    if ray is not None:
        from timelapse_nst.batch import ray_runner

        # A cluster we start here gets the CPUs a local run would use: same threads, same bytes.
        address = ray_runner.connect(ray, num_cpus=_local_cpus())
        notify(f"Ray cluster at {address}")
        try:
            ray_runner.check_shared_folder(folder)
            cpus, gpus = ray_runner.node_resources()
            tasks = _tasks(plan, cpus, gpus, workers=1)
            runner: Runner = ray_runner.RayRunner(folder, weights=weights, max_retries=plan.max_retries)
            report = _run(folder, plan, tasks, runner, weights, "ray", notify, display)
        finally:
            ray_runner.disconnect()
    else:
        from timelapse_nst.batch.local import LocalRunner

        gpu_ids = _local_gpus()
        tasks = _tasks(plan, _local_cpus(), len(gpu_ids), workers=workers)
        runner = LocalRunner(folder, weights=weights, workers=workers, gpus=gpu_ids)
        report = _run(folder, plan, tasks, runner, weights, "local", notify, display)
    # 3. Results: remade when a job finished now, or when they are missing.
    return _results(folder, plan.jobs, report, notify)


def _run(
    folder: BatchFolder,
    plan: JobsPlan,
    tasks: list[Task],
    runner: Runner,
    weights: str,
    kind: str,
    notify: Notify,
    display: Display | None,
) -> RunReport:
    folder.write_manifest(plan, [task.job for task in tasks], weights=weights, runner=kind)
    todo = [task for task in tasks if not folder.is_done(task.job.name)]
    if len(todo) < len(tasks):
        notify(f"{len(tasks) - len(todo)} of {len(tasks)} jobs already finished: skipped")
    active: dict[str, str] = {}
    names = [task.job.name for task in tasks]
    with display(folder, names, active) if display is not None else contextlib.nullcontext():
        return runner.run(todo, active, folder.record)


def _tasks(plan: JobsPlan, node_cpus: int, node_gpus: int, *, workers: int) -> list[Task]:
    """Each job with its resources settled: what the jobs file says, else a default.

    Default: one GPU and the node's CPUs shared among its GPUs where there are GPUs, else the
    CPUs of one node (shared among the local workers). Torch threads = the job's CPUs, so the
    same jobs file gives the same threads, and the same bytes, locally and on Ray.
    """
    if node_gpus >= 1:
        default_cpus, default_gpus = max(1, node_cpus // node_gpus), 1.0
    else:
        default_cpus, default_gpus = max(1, node_cpus // workers), 0.0
    tasks = []
    for job in plan.jobs:
        cpus = job.num_cpus if job.num_cpus is not None else float(default_cpus)
        gpus = job.num_gpus if job.num_gpus is not None else default_gpus
        settled = job.model_copy(update={"num_cpus": cpus, "num_gpus": gpus})
        tasks.append(Task(settled, threads=max(1, int(cpus))))
    return tasks


def _results(folder: BatchFolder, jobs: list[Job], report: RunReport, notify: Notify) -> BatchResult:
    from timelapse_nst.batch.results import Entry, make_compilation, make_gallery

    views = [folder.view(job.name) for job in jobs]
    finished_now = any(outcome.state == "done" for outcome in report.outcomes.values())
    done = [
        Entry(job.label, folder.run(job.name)) for job, view in zip(jobs, views, strict=True) if view.state == "done"
    ]
    gallery = folder.gallery if folder.gallery.exists() else None
    compilation = folder.compilation if folder.compilation.exists() else None
    if done and not report.stopped and (finished_now or gallery is None or compilation is None):
        gallery = make_gallery(done, folder.gallery)
        notify(f"gallery: {gallery}")
        compilation = make_compilation(done, folder.compilation)
        if compilation is not None:
            notify(f"compilation: {compilation}")
    return BatchResult(folder.root, views, report.stopped, gallery, compilation)


def _local_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _local_gpus() -> list[str]:
    """The GPUs local workers may use, as CUDA_VISIBLE_DEVICES entries (none: CPU or MPS)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [entry for entry in visible.split(",") if entry.strip() and entry.strip() != "-1"]
    if not any(Path(device).exists() for device in ("/dev/nvidiactl", "/dev/kfd", "/dev/dxg")):
        return []  # no GPU driver here: spare the batch process the import of torch
    import torch

    return [str(index) for index in range(torch.cuda.device_count())]
