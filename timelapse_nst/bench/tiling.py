"""Tiled against untiled renders: peak memory and seconds per iteration, each in a fresh process.

Every case is a real render (``api.render``: frames, log, a checkpoint every other iteration)
in a subprocess of its own, so its peak RSS (VmHWM) is its own and not the bench's. Seconds per
iteration are the median interval between iterations after the first (which warms up). The
memory plan's estimate, made in the same process before the render starts, is reported beside
the measured peak. A size whose untiled plan does not fit this machine is measured tiled only.

Interface for the bench report: ``measure_tiling(settings, work) -> list[dict]``, one row per
(size, tiled): size, tiled, tiles, precision, iterations, seconds_per_iteration, peak_rss_mb,
estimate_mb (or error).
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from timelapse_nst.bench.memory import peak_self_mb
from timelapse_nst.bench.ours import render_job
from timelapse_nst.bench.settings import BenchSettings

SIZES = (512, 1024, 2048)


def measure_tiling(
    settings: BenchSettings,
    work: Path,
    *,
    sizes: Sequence[int] = SIZES,
    iterations: int = 4,
    tile: int = 512,
) -> list[dict[str, Any]]:
    """One row per size and mode: tiled always, untiled where its plan fits this machine."""
    rows = []
    for size in sizes:
        for tiled in (False, True):
            job = {
                "size": size,
                "tiled": tiled,
                "tile": tile,
                "iterations": iterations,
                "weights": settings.weights,
                "content": str(settings.content),
                "style": str(settings.style),
                "out": str(work / f"tiling-{size}-{'on' if tiled else 'off'}"),
            }
            rows.append(_in_subprocess(job))
    return rows


def _in_subprocess(job: dict[str, Any]) -> dict[str, Any]:
    code = "import sys; from timelapse_nst.bench.tiling import tiling_child; tiling_child(sys.argv[1])"
    done = subprocess.run([sys.executable, "-c", code, json.dumps(job)], capture_output=True, text=True, check=False)
    shutil.rmtree(job["out"], ignore_errors=True)
    row = {"size": job["size"], "tiled": job["tiled"]}
    if done.returncode != 0:
        tail = " ".join((done.stderr or "").strip().splitlines()[-1:])
        return {**row, "error": tail or f"exit {done.returncode}"}
    return {**row, **json.loads(done.stdout.strip().splitlines()[-1])}


def tiling_child(job_json: str) -> None:
    """Inside the subprocess: plan, then render (or say it does not fit), then report."""
    from timelapse_nst import api
    from timelapse_nst.engine.footprint import FLOAT32
    from timelapse_nst.settings import presets

    job = json.loads(job_json)
    overrides = [
        f"size={job['size']}",
        f"optimizer.iterations={job['iterations']}",
        "checkpoint.every_iterations=2",
        "capture.spacing=every",
        f"tiling.mode={'on' if job['tiled'] else 'off'}",
        f"tiling.tile={job['tile']}",
    ]
    config = presets.resolve("classic", overrides=overrides)
    plan = api.plan(job["content"], job["style"], config=config)
    (scale,) = plan.scales
    row = {
        "tiles": scale.tiles,
        "precision": "fp32" if plan.machine.element == FLOAT32 else "16-bit",
        "estimate_mb": round(plan.peak / 2**20, 1),
    }
    if not plan.fits:
        print(json.dumps({**row, "error": f"does not fit: plan {row['estimate_mb']:.0f} MB"}))
        return
    stamps: list[float] = []
    render_job(job, job["content"], config, hooks=[lambda step: stamps.append(time.perf_counter())])
    intervals = sorted(b - a for a, b in itertools.pairwise(stamps[1:]))  # stamps[0]: iteration 0
    median = intervals[len(intervals) // 2] if intervals else float("nan")
    print(
        json.dumps(
            {
                **row,
                "iterations": job["iterations"],
                "seconds_per_iteration": round(median, 2),
                "peak_rss_mb": peak_self_mb(),
            }
        )
    )


def to_rows(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """The measurements as table rows: size, mode, tiles, peak RSS (estimate), s/iteration, tiled/untiled."""
    untiled = {r["size"]: r.get("seconds_per_iteration") for r in rows if not r["tiled"]}
    table = []
    for r in rows:
        if "error" in r:
            table.append([str(r["size"]), "tiled" if r["tiled"] else "untiled", "", r["error"], "", ""])
            continue
        base = untiled.get(r["size"])
        ratio = f"{r['seconds_per_iteration'] / base:.2f}x" if r["tiled"] and base else ""
        table.append(
            [
                str(r["size"]),
                "tiled" if r["tiled"] else "untiled",
                str(r["tiles"]),
                f"{r['peak_rss_mb']:.0f} MB ({r['estimate_mb']:.0f})",
                f"{r['seconds_per_iteration']:.2f}",
                ratio,
            ]
        )
    return table
