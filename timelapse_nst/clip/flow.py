"""Optical flow between a clip's input frames, warping along it, and where it can be trusted.

Pure numpy (and OpenCV): arrays in, arrays out. Frames are (H, W, 3) uint8 RGB; flows (H, W, 2)
float32 in pixels, (dx, dy). The flow is OpenCV's DIS (Kroeger et al. 2016): no weights to
download, ~10 ms for both directions of a 256x192 pair on one core; its result does not depend on
``cv2.setNumThreads`` (tested), so a resumed render computes the very flows it had.

The consistency check is Ruder et al.'s (2016, section 3.1): with w the backward flow (from the
current frame to the earlier one) and ŵ the forward flow carried to the current frame along w, a
pixel is occluded where |w + ŵ|² > 0.01 (|w|² + |ŵ|²) + 0.5, and on a motion boundary where
|∇u|² + |∇v|² > 0.01 |w|² + 0.002 for w = (u, v) (central differences). We also count a pixel
whose backward flow leaves the earlier frame as not seen there (the paper's flow stays inside).

Departing from the paper, a pixel is also marked *still* where it neither moved nor changed
(``unchanged``): such a pixel is always trusted (the boundary test fires on the flow's noise
where there is no motion at all), and the session holds it harder (``clip.still_weight``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def optical_flow(source: np.ndarray, target: np.ndarray, quality: str = "medium") -> np.ndarray:
    """(H, W, 2) float32: pixel x of ``source`` shows what ``target`` shows at x + flow(x)."""
    dis = cv2.DISOpticalFlow_create(DIS_PRESETS[quality])
    return dis.calc(_gray(source), _gray(target), None)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` (H, W, C) resampled at x + flow(x) for every pixel x (bilinear; float32 out).

    With ``flow`` the backward flow of the current frame, this carries the earlier frame's
    picture to where its content now is."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return cv2.remap(
        image.astype(np.float32),
        xs + flow[..., 0],
        ys + flow[..., 1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    ).reshape(image.shape)


@dataclass(frozen=True)
class Motion:
    """How the current frame relates to an earlier one, on the current frame's pixel grid."""

    flow: np.ndarray  # (H, W, 2) backward flow: a pixel x was at x + flow(x) in the earlier frame
    seen: np.ndarray  # (H, W) bool: not occluded and inside the earlier frame
    reliable: np.ndarray  # (H, W) float32, 0 or 1: seen, and not on a motion boundary (Ruder's c)
    still: np.ndarray  # (H, W) bool: neither moved nor changed (see ``unchanged``)

    @property
    def consistency(self) -> float:
        """The share of the pixels the check keeps (a scene cut drops it to about 0)."""
        return float(self.reliable.mean())


def motion(current: np.ndarray, earlier: np.ndarray, quality: str = "medium") -> Motion:
    """Flow in both directions between two input frames, and Ruder et al.'s consistency check."""
    backward = optical_flow(current, earlier, quality)
    forward = optical_flow(earlier, current, quality)
    checked = check(backward, forward)
    still = unchanged(current, earlier) & ((backward**2).sum(-1) <= STILL_FLOW**2)
    # A still pixel stays where it is (no resampling: the flow's noise would blur it frame after
    # frame) and is trusted even where that noise looks like a motion boundary.
    flow = np.where(still[..., None], np.float32(0), backward)
    return Motion(flow, checked.seen | still, np.maximum(checked.reliable, still.astype(np.float32)), still)


STILL_FLOW = 0.3
"""Pixels of flow below which a pixel counts as not moved: above DIS's noise on a still picture
with a codec's noise (at most 0.2-0.3 px at 96-256 px); a flat region panned more slowly than this
holds its painting where it is (the aperture problem: in a flat region the two look alike)."""
STILL_CHANGE = 3.0
"""Levels a pixel's neighbourhood may change by (its mean over 5x5 pixels) and still be unchanged: a
codec's or a sensor's noise on a still scene."""


def unchanged(current: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """(H, W) bool: the input frames agree around each pixel (5x5 mean of the largest channel
    difference within ``STILL_CHANGE`` levels)."""
    difference = np.abs(current.astype(np.float32) - earlier.astype(np.float32)).max(-1)
    return cv2.blur(difference, (5, 5), borderType=cv2.BORDER_REFLECT) <= STILL_CHANGE


def check(backward: np.ndarray, forward: np.ndarray) -> Motion:
    """Ruder et al.'s consistency check of a backward flow against the forward one (module notes)."""
    carried = warp(forward, backward)  # ŵ at the pixel each current pixel came from
    length = (backward**2).sum(-1) + (carried**2).sum(-1)
    occluded = ((backward + carried) ** 2).sum(-1) > 0.01 * length + 0.5
    boundary = _gradient_energy(backward) > 0.01 * (backward**2).sum(-1) + 0.002
    seen = ~occluded & _inside(backward)
    return Motion(backward, seen, (seen & ~boundary).astype(np.float32), np.zeros(seen.shape, bool))


def _gradient_energy(flow: np.ndarray) -> np.ndarray:
    """|∇u|² + |∇v|² per pixel (central differences, one-sided at the edges)."""
    energy = np.zeros(flow.shape[:2], np.float32)
    for channel in range(2):
        dy, dx = np.gradient(flow[..., channel])
        energy += dx * dx + dy * dy
    return energy


def _inside(flow: np.ndarray) -> np.ndarray:
    """Where x + flow(x) lies within the frame."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    x, y = xs + flow[..., 0], ys + flow[..., 1]
    return (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
