"""Optical flow between input frames, warping along it, Ruder et al.'s consistency check and
Lai et al.'s warping error: numpy in, numpy out, on real pictures moved by known amounts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from timelapse_nst.clip.flow import check, motion, optical_flow, warp
from timelapse_nst.clip.warping_error import warping_error

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.asarray(Image.open(EXAMPLES / "tubingen.jpg").convert("RGB"))


def view(photo: np.ndarray, x: int, y: int = 100, size: tuple[int, int] = (96, 64)) -> np.ndarray:
    """A 96x64 window of the photo at (x, y): moving x pans the camera."""
    width, height = size
    return np.ascontiguousarray(photo[y : y + height, x : x + width])


def test_the_flow_of_a_pan_is_the_pan(photo):
    earlier, current = view(photo, 100), view(photo, 103)  # the camera moved 3 px right
    backward = optical_flow(current, earlier)
    assert backward.shape == (64, 96, 2) and backward.dtype == np.float32
    inner = backward[8:-8, 8:-8]
    assert np.median(inner[..., 0]) == pytest.approx(3.0, abs=0.25)  # a pixel was 3 px further right
    assert np.median(inner[..., 1]) == pytest.approx(0.0, abs=0.25)
    carried = warp(earlier, backward)
    assert np.abs(carried[8:-8, 8:-8] - current[8:-8, 8:-8]).mean() < 6  # the earlier frame, moved along


def test_the_check_trusts_a_pan_and_not_what_came_into_view(photo):
    seen = motion(view(photo, 103), view(photo, 100))
    assert seen.consistency > 0.9
    assert not seen.seen[:, -2:].any()  # the right edge came into view: not in the earlier frame
    assert seen.seen[:, :80].mean() > 0.95


def test_still_frames_have_no_motion_and_every_pixel_is_trusted(photo):
    frame = view(photo, 100)
    still = motion(frame, frame)
    assert not still.flow.any() and still.consistency == 1.0
    assert np.array_equal(warp(frame, still.flow), frame.astype(np.float32))


def test_an_occluded_region_fails_the_forward_backward_check():
    # A square moves 6 px right over a still background: where it was, the background reappears.
    backward = np.zeros((40, 40, 2), np.float32)
    forward = np.zeros((40, 40, 2), np.float32)
    backward[10:20, 16:26, 0] = -6.0  # the square now at x 16..25 was at x 10..19
    forward[10:20, 10:20, 0] = 6.0
    result = check(backward, forward)
    assert not result.seen[12:18, 10:15].any()  # uncovered: the forward flow there points away
    assert result.seen[12:18, 18:24].all()  # inside the square: both flows agree
    assert not result.reliable[10:20, 15:17].any()  # the square's edge: a motion boundary
    assert result.seen[30:, :].all() and result.reliable[30:, :].all()


def test_a_scene_cut_collapses_the_consistency(photo):
    painting = np.asarray(Image.open(EXAMPLES / "starry_night.jpg").convert("RGB"))
    assert motion(view(painting, 200), view(photo, 100)).consistency < 0.5  # the default clip.scene_cut


def test_the_flow_does_not_depend_on_opencv_threads(photo):
    earlier, current = view(photo, 100, size=(256, 192)), view(photo, 104, size=(256, 192))
    flows = []
    for threads in (1, 2, 4):
        cv2.setNumThreads(threads)
        flows.append(optical_flow(current, earlier))
    cv2.setNumThreads(-1)
    assert all(np.array_equal(flows[0], flow) for flow in flows[1:])


def test_the_warping_error_is_zero_for_a_clip_that_moves_with_its_input(photo):
    inputs = [view(photo, 100 + 2 * t) for t in range(4)]
    assert warping_error(inputs[:1], inputs[:1]) == 0.0
    still = [inputs[0]] * 4
    assert warping_error(still, still) == 0.0
    following = warping_error(inputs, inputs)  # a "painting" that is its photo: moves with it
    rng = np.random.default_rng(0)
    flicker = [np.clip(f + rng.normal(0, 20, f.shape), 0, 255).astype(np.uint8) for f in inputs]
    flickering = warping_error(flicker, inputs)
    assert 0 <= following < 0.005 < flickering <= 1
    with pytest.raises(ValueError, match="3 painted frames for 4 input frames"):
        warping_error(inputs[:3], inputs)


def test_a_pixel_that_neither_moved_nor_changed_is_still_and_trusted(photo):
    frame = view(photo, 100)
    noise = np.random.default_rng(1).integers(-2, 3, frame.shape)
    noisy = motion(np.clip(frame.astype(int) + noise, 0, 255).astype(np.uint8), frame)
    assert noisy.still.mean() > 0.99 and noisy.consistency > 0.99  # a codec's or a sensor's noise
    assert not noisy.flow[noisy.still].any()  # a still pixel is not resampled
    panned = motion(view(photo, 102), frame)
    assert not panned.still[8:-8, 8:-8].any()  # moved 2 px: nothing still
    changed = frame.copy()
    changed[20:40, 30:60] = 255 - changed[20:40, 30:60]  # something changed in place
    result = motion(changed, frame)
    assert not result.still[25:35, 35:55].any() and result.still[52:, :].mean() > 0.9
