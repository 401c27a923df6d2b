"""How much a painted clip flickers: Lai et al.'s warping error (ECCV 2018, "Learning Blind Video
Temporal Consistency", eq. 9), with the flow measured on the input frames.

    E = mean over t of  Σ_x M_t(x) ‖O_t(x) − warp(O_{t−1})(x)‖²  /  Σ_x M_t(x)

O the painted frames with pixels in [0, 1] (‖·‖² averaged over the three channels, so E lies in
[0, 1]; Lai et al. sum them, a factor of 3 that cancels in every ratio), warp along the backward
flow between input frames t and t−1, M_t the pixels not occluded (and inside frame t−1) by Ruder
et al.'s check. Lower is steadier; 0 for a clip that moves exactly with its input. It rewards a
clip that smears the previous frame as much as one that paints well: report each frame's own
objective beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from timelapse_nst.clip.flow import motion, warp


def warping_error(painted: Sequence[np.ndarray], inputs: Sequence[np.ndarray], *, quality: str = "medium") -> float:
    """The warping error of ``painted`` frames ((H, W, 3) uint8) over their ``inputs`` (the same
    count and size). Pairs where no pixel is seen in both frames (a scene cut's blank check) are
    left out; a clip of one frame scores 0."""
    if len(painted) != len(inputs):
        raise ValueError(f"{len(painted)} painted frames for {len(inputs)} input frames")
    errors = [
        error
        for t in range(1, len(painted))
        if (error := pair_error(painted[t], painted[t - 1], inputs[t], inputs[t - 1], quality=quality)) is not None
    ]
    return float(np.mean(errors)) if errors else 0.0


def pair_error(
    current: np.ndarray, earlier: np.ndarray, current_input: np.ndarray, earlier_input: np.ndarray, *, quality: str
) -> float | None:
    """One term of the mean: frame t against frame t−1 carried along the input frames' flow."""
    seen = motion(current_input, earlier_input, quality)
    mask = seen.seen.astype(np.float64)
    if mask.sum() == 0:
        return None
    carried = warp(earlier.astype(np.float32) / 255.0, seen.flow)
    squared = ((current.astype(np.float32) / 255.0 - carried) ** 2).mean(-1)
    return float((mask * squared).sum() / mask.sum())
