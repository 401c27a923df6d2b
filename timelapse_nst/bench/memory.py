"""Peak memory of a render, measured in a fresh subprocess (not this process's memory)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from timelapse_nst.bench.ours import bench_config, run_ours
from timelapse_nst.bench.settings import BenchSettings

# -- peak memory (a subprocess) -------------------------------------------------------------


def measure_rss(settings: BenchSettings, work: Path) -> dict[str, Any]:
    """Peak RSS of a default render at ``rss_size`` in a fresh process (not this one's memory)."""
    job = {
        "size": settings.rss_size,
        "iterations": settings.rss_iterations,
        "weights": settings.weights,
        "content": str(settings.content),
        "style": str(settings.style),
        "out": str(work / "rss-run"),
    }
    code = "import sys; from timelapse_nst.bench.memory import rss_child; rss_child(sys.argv[1])"
    done = subprocess.run([sys.executable, "-c", code, json.dumps(job)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " ".join((done.stderr or "").strip().splitlines()[-1:])
        return {"size": settings.rss_size, "error": f"the memory run failed: {tail}"}
    shutil.rmtree(work / "rss-run", ignore_errors=True)
    return {
        "size": settings.rss_size,
        "iterations": settings.rss_iterations,
        "peak_rss_mb": json.loads(done.stdout)["peak_rss_mb"],
    }


def rss_child(job_json: str) -> None:
    """Inside the subprocess: one default render with checkpoints, then report our own peak."""
    job = json.loads(job_json)
    settings = BenchSettings(
        iterations=job["iterations"], weights=job["weights"], content=Path(job["content"]), style=Path(job["style"])
    )
    config = bench_config(settings, job["size"], checkpoint={"every_iterations": max(1, job["iterations"] // 2)})
    run_ours(settings, config, Path(job["out"]))
    print(json.dumps({"peak_rss_mb": peak_self_mb()}))


def peak_self_mb() -> float:
    """This process's own peak RSS. On Linux VmHWM: ru_maxrss would include the parent's peak,
    which Linux carries across fork+exec into the child's accounting."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    try:
        import resource  # POSIX only: imported where it is used, so Windows can import the bench
    except ImportError:  # Windows: psutil knows the peak working set
        import psutil

        return round(psutil.Process().memory_info().peak_wset / (1024 * 1024), 1)
    return _kb_to_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _kb_to_mb(value: int) -> float:
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    return round(value / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)
