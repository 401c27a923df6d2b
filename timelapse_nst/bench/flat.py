"""A long render stays flat: what a render process holds late (resident memory, its peak, open
files) is what it held early. A leak (a tensor kept per iteration, a frame file left open, an
autograd graph that outlives its step) shows as growth between the two points.

    python -m timelapse_nst.bench.flat --size 64 --at 100,1000 [--threads 1] [--json FILE]

Each figure is read from outside, with psutil, from a real ``timelapse-nst render`` process
(random weights, no video) at the moment its log.jsonl reaches the iteration; the process is
paused while it is read. The bar: resident memory and its peak at the last point within 5% of
the first, the same number of open files.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import psutil

from timelapse_nst.bench.settings import examples_dir

RSS_LIMIT = 0.05
WINDOW = 5
"""Successive iterations read at each point, keeping the least open files and resident memory:
a file open for a moment (a frame or a checkpoint being written) and a checkpoint's passing
buffers are not growth; a leak raises the least too."""
_MB = 1024 * 1024


@dataclass(frozen=True)
class Sample:
    """A render process at one iteration (the least over ``WINDOW`` iterations from it)."""

    iteration: int
    rss_mb: float  # resident now
    peak_rss_mb: float | None  # the most it was ever resident; None where the platform cannot tell
    open_files: int  # file descriptors (handles on Windows)


@dataclass(frozen=True)
class Flatness:
    """The first and the last sample compared."""

    rss_growth: float  # last / first - 1
    peak_growth: float | None
    open_files_growth: int

    @property
    def flat(self) -> bool:
        peak_ok = self.peak_growth is None or self.peak_growth <= RSS_LIMIT
        return self.rss_growth <= RSS_LIMIT and peak_ok and self.open_files_growth == 0


def flatness(samples: Sequence[Sample]) -> Flatness:
    first, last = samples[0], samples[-1]
    peak_growth = None
    if first.peak_rss_mb is not None and last.peak_rss_mb is not None:
        peak_growth = last.peak_rss_mb / first.peak_rss_mb - 1
    return Flatness(
        rss_growth=last.rss_mb / first.rss_mb - 1,
        peak_growth=peak_growth,
        open_files_growth=last.open_files - first.open_files,
    )


def watch_render(
    work: Path,
    *,
    size: int,
    at: Sequence[int],
    threads: int = 1,
    content: Path | None = None,
    style: Path | None = None,
) -> list[Sample]:
    """Render (``classic``, random weights, checkpoints as the preset says) in a subprocess until
    ``WINDOW`` iterations past the last of ``at``, reading it at each of ``at``."""
    points = sorted(at)
    out = work / f"flat-{size}px"
    command = [
        *(sys.executable, "-m", "timelapse_nst", "render"),
        str(content or examples_dir() / "tubingen.jpg"),
        str(style or examples_dir() / "starry_night.jpg"),
        *("--weights", "random", "--size", str(size), "--iterations", str(points[-1] + WINDOW)),
        *("--quiet", "--no-video", "--out", str(out)),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with open(work / f"flat-{size}px.stderr", "w+b") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        try:
            log = _LogLines(out / "log.jsonl")
            samples = [_sample(process, log, point, stderr) for point in points]
            if process.wait() != 0:
                raise RuntimeError(f"the render failed: {_tail(stderr)}")
            return samples
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _sample(process: subprocess.Popen, log: _LogLines, iteration: int, stderr: IO[bytes]) -> Sample:
    """The least resident memory and open files over ``WINDOW`` iterations from ``iteration``; the
    peak at the end of them."""
    watched = psutil.Process(process.pid)
    readings = []
    for offset in range(WINDOW):
        while log.count() < iteration + offset:  # polled: the log says where the render is
            if process.poll() is not None:
                raise RuntimeError(f"the render ended before iteration {iteration + offset}: {_tail(stderr)}")
            time.sleep(0.002)
        watched.suspend()  # read at rest, not half-way through the next iteration
        try:
            readings.append((watched.memory_info().rss / _MB, _open_files(watched), _peak_mb(watched)))
        finally:
            watched.resume()
    return Sample(
        iteration=iteration,
        rss_mb=round(min(rss for rss, _, _ in readings), 1),
        peak_rss_mb=readings[-1][2],
        open_files=min(files for _, files, _ in readings),
    )


class _LogLines:
    """How many lines log.jsonl holds, reading only what was appended since the last look."""

    def __init__(self, path: Path) -> None:
        self.path, self._offset, self._lines = path, 0, 0

    def count(self) -> int:
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                new = file.read()
        except FileNotFoundError:  # the render has not started painting yet
            return 0
        self._offset += len(new)
        self._lines += new.count(b"\n")
        return self._lines


def _open_files(process: psutil.Process) -> int:
    return process.num_fds() if hasattr(process, "num_fds") else process.num_handles()


def _peak_mb(process: psutil.Process) -> float | None:
    """The process's high-water mark: VmHWM on Linux, the peak working set on Windows; macOS
    tells no other process's peak."""
    info = process.memory_info()
    if hasattr(info, "peak_wset"):
        return round(info.peak_wset / _MB, 1)
    try:
        with open(f"/proc/{process.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _tail(stderr: IO[bytes]) -> str:
    stderr.seek(0)
    lines = stderr.read().decode("utf-8", "replace").strip().splitlines()
    return " ".join(lines[-3:]) or "(nothing on stderr)"


def to_markdown(samples: Sequence[Sample]) -> str:
    lines = ["| iteration | resident MB | peak resident MB | open files |", "|---:|---:|---:|---:|"]
    for sample in samples:
        peak = "n/a" if sample.peak_rss_mb is None else f"{sample.peak_rss_mb:.1f}"
        lines.append(f"| {sample.iteration} | {sample.rss_mb:.1f} | {peak} | {sample.open_files} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m timelapse_nst.bench.flat", description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--at", default="100,1000", help="iterations to read the process at, e.g. 100,500,1000")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="timelapse-nst-flat-") as tmp:
        samples = watch_render(Path(tmp), size=args.size, at=[int(n) for n in args.at.split(",")], threads=args.threads)
    verdict = flatness(samples)
    print(to_markdown(samples))
    peak = "n/a" if verdict.peak_growth is None else f"{verdict.peak_growth:+.1%}"
    print(
        f"\nfirst to last: resident {verdict.rss_growth:+.1%}, peak {peak}, open files "
        f"{verdict.open_files_growth:+d} ({'flat' if verdict.flat else 'GROWS'}; the bar is {RSS_LIMIT:.0%}, "
        f"{time.monotonic() - started:.0f} s, {args.size} px, {args.threads} thread(s))"
    )
    if args.json is not None:
        seconds, load = round(time.monotonic() - started), round(psutil.getloadavg()[0], 2)
        figures = {"size": args.size, "threads": args.threads, "seconds": seconds, "load_average_at_end": load}
        figures["samples"] = [asdict(s) for s in samples]
        args.json.write_text(json.dumps({**figures, **asdict(verdict), "flat": verdict.flat}, indent=1) + "\n")
    return 0 if verdict.flat else 1


if __name__ == "__main__":
    raise SystemExit(main())
