import math

import numpy as np
import pytest
import torch

from timelapse_nst.engine.loop import Step
from timelapse_nst.rendering.capture import CaptureHook, FrameWriter, captured_iterations, is_captured
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.settings.config import Capture


def test_every_n_keeps_multiples_plus_first_and_last():
    assert captured_iterations(10, Capture(spacing="every", every=3)) == [0, 3, 6, 9, 10]


def test_eased_is_dense_early_and_sparse_late():
    kept = captured_iterations(1000, Capture(spacing="eased", density=8))
    assert kept[:17] == list(range(17))  # every iteration while the slope 4/sqrt(i) >= 1
    gaps = np.diff(kept)
    assert gaps[-20:].mean() > 3 * gaps[:20].mean()
    assert 0.9 * 8 * math.sqrt(1000) <= len(kept) <= 8 * math.sqrt(1000) + 1  # about density·√N
    assert kept[-1] == 1000 and is_captured(1000, 1000, Capture(spacing="eased"))


def test_writer_saves_frames_named_by_iteration_off_thread(tmp_path):
    capture = Capture(spacing="every", every=2)
    run = RunFolder(tmp_path)
    run.frames.mkdir()
    with FrameWriter(run, max_pending=2) as writer:
        hook = CaptureHook(writer, capture)
        for i in range(7):
            hook(Step(i, 6, 0, torch.full((1, 3, 8, 10), float(i * 10))))
    assert sorted(p.name for p in run.frames.iterdir()) == ["000000.png", "000002.png", "000004.png", "000006.png"]
    from PIL import Image

    with Image.open(run.frame_path(4)) as frame:
        assert frame.size == (10, 8) and np.asarray(frame)[0, 0].tolist() == [40, 40, 40]


def test_writer_errors_reach_the_loop(tmp_path):
    missing = tmp_path / "gone"  # a folder that does not exist: every write fails
    writer = FrameWriter(RunFolder(missing))
    writer.put(0, np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(OSError):
        writer.flush()
    writer.close()
