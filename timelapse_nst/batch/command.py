"""``timelapse-nst batch run JOBS.yaml`` (or just ``batch JOBS.yaml``) and ``batch status DIR``.

Exit codes of ``batch run``: 0 every job finished; 2 bad input (nothing ran); 3 some jobs
failed (the others finished; a re-run retries the failed ones); 130 stopped by Ctrl-C (every
running job saved a checkpoint; a re-run continues).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from timelapse_nst import terminal
from timelapse_nst.errors import ExitCode


class BatchGroup(TyperGroup):
    """``batch [OPTIONS] JOBS.yaml`` is short for ``batch run [OPTIONS] JOBS.yaml``: when the first
    word that is not an option names no sub-command, ``run`` is meant."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        words = [arg for arg in args if not arg.startswith("-")]
        if words and words[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


def batch_run_command(
    jobs_file: Annotated[Path, typer.Argument(metavar="JOBS.yaml", help="The jobs file (see the docs: Batches).")],
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Batch folder (default: runs/ + the jobs file's name).")
    ] = None,
    weights: Annotated[
        Optional[str],
        typer.Option(
            metavar="torchvision|random|PATH",
            envvar="TIMELAPSE_NST_WEIGHTS",
            show_envvar=True,
            help="VGG19 weights for every job: torchvision (ImageNet, downloaded once), a .pth PATH, or random.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option("--workers", "-w", min=1, help="Local jobs at a time, each a process (one GPU each where any)."),
    ] = 1,
    ray: Annotated[
        Optional[str],
        typer.Option(
            "--ray",
            metavar="auto|ADDRESS",
            help="Run each job as a Ray task: auto joins this machine's cluster or starts one on "
            "127.0.0.1; ADDRESS joins a cluster (host:port). Needs pip install 'timelapse-nst\\[ray]'.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No table or notes; failures still print.")] = False,
) -> None:
    """Render every job of a jobs file, each into its own run folder; a re-run continues.

    Finished jobs are skipped, stopped ones resume exactly, failed ones are tried again.
    Ctrl-C stops every running job after a checkpoint. At the end: gallery.png and
    compilation.mp4 in the batch folder.

    Exit code: 0 all finished, 3 some failed, 130 stopped, 2 bad input.

    `timelapse-nst batch JOBS.yaml` is short for `timelapse-nst batch run JOBS.yaml`.

    Example: timelapse-nst batch run series.yaml --out runs/series --workers 2
    """
    from timelapse_nst.batch import run_batch
    from timelapse_nst.batch.table import failures, jobs_table, live_table, summary

    console = terminal.console()

    def notify(message: str) -> None:
        if not quiet:
            console.print(message, soft_wrap=True)

    def display(folder: Any, names: list[str], active: dict[str, str]) -> Any:
        return live_table(folder, names, active, console)

    result = run_batch(
        jobs_file, out=out, weights=weights, workers=workers, ray=ray, notify=notify, display=None if quiet else display
    )
    if not quiet:
        console.print(jobs_table(result.views))
        console.print(f"batch {result.folder}: {summary(result.views)}", soft_wrap=True)
    for line in failures(result.views):
        console.print(line, soft_wrap=True)
    if result.stopped:
        console.print("stopped: every running job saved a checkpoint; run the same command to continue", soft_wrap=True)
        raise typer.Exit(ExitCode.INTERRUPTED)
    if result.failed:
        raise typer.Exit(ExitCode.SOME_JOBS_FAILED)


def batch_status_command(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="A batch folder.")],
) -> None:
    """Show every job of a batch: state, iteration, latest losses, video; and the results.

    Example: timelapse-nst batch status runs/series
    """
    from timelapse_nst.batch.folder import BatchFolder
    from timelapse_nst.batch.table import failures, jobs_table, summary

    batch = BatchFolder(folder)
    views = [batch.view(job.name) for job in batch.read_jobs()]
    console = terminal.console(stderr=False)
    console.print(jobs_table(views))
    console.print(f"batch {batch.root}: {summary(views)}", soft_wrap=True)
    for line in failures(views):
        console.print(line, soft_wrap=True)
    for path in (batch.gallery, batch.compilation):
        console.print(f"{path.name}: {path if path.exists() else 'not made yet'}", soft_wrap=True)
