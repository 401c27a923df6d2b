"""``timelapse-nst bench``: our renderer measured side by side with the floor and the seed's way.

Everything runs in one process, at the same sizes and iteration counts, and is reported as
ratios, because a shared machine is noisy and absolute seconds are not comparable across runs:

- floor: bare VGG19 forward+backward to the deepest layer in use, at the precision in use
  (weights stored in that precision, channels_last, in-place ReLUs, nothing else);
- baseline (``baseline.py``): the seed (gordicaleksa/pytorch-neural-style-transfer) as written
  there: fp32, NCHW, one ``LBFGS(max_iter=N, line_search_fn="strong_wolfe").step``, a synchronous
  JPEG save in every evaluation; the same loss definitions as ours;
- ours (``ours.py``): ``api.render`` into a temporary run folder (frames, log, checkpoints: the real path).

Per-evaluation times are medians of the intervals between consecutive evaluations (ours:
between consecutive iterations, which include capture, log and checkpoint work), after one
warm-up interval. The floor is measured inside each run, between iterations and off the clock,
and baseline/ours divides each run by its own floor, so a change of load from other processes
between runs cancels out. Objectives that are compared are always recomputed in fp32 by one evaluator,
on the image as saved (clamped to 0..255, rounded to 8 bits).
torch is imported inside the functions, so ``timelapse-nst --help`` stays fast.

Modules: ``settings`` (what to measure), ``runner`` (the order of the measurements), ``measure``,
``memory``, ``video``, ``reach`` (ours to the seed's final quality, and its plot), ``preview`` (the
live preview's cost), ``regions`` (two masked styles and a reveal), ``tiling`` (the measurements), ``baseline``, ``ours`` (the two sides), ``report``
(figures, targets, tables).
"""

from __future__ import annotations

from timelapse_nst.bench.report import BenchReport, to_markdown, to_table
from timelapse_nst.bench.runner import run_bench
from timelapse_nst.bench.settings import BenchSettings, examples_dir

__all__ = ["BenchReport", "BenchSettings", "examples_dir", "run_bench", "to_markdown", "to_table"]
