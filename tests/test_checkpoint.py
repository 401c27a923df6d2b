"""Checkpoint files: checksummed, atomic, the previous one kept, no code run on load, small."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from timelapse_nst.engine.loop import make_optimizer
from timelapse_nst.errors import UserError
from timelapse_nst.rendering import checkpoint
from timelapse_nst.rendering.checkpoint import CorruptCheckpoint, decode, encode
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.settings.config import Optimizer


def state_at(iteration: int) -> dict:
    image = torch.arange(3 * 8 * 8, dtype=torch.float32).reshape(1, 3, 8, 8) + iteration
    optimizer = make_optimizer(image.clone().requires_grad_(True), Optimizer())
    return {
        "iteration": iteration,
        "image": image,
        "optimizer": optimizer.state_dict(),
        "rng": {"torch": torch.get_rng_state()},
        "log": {"lines": iteration, "bytes": 10 * iteration},
    }


def test_encode_decode_round_trip():
    state = state_at(7)
    back = decode(encode(state))
    assert back["iteration"] == 7 and back["log"] == state["log"]
    assert torch.equal(back["image"], state["image"]) and torch.equal(back["rng"]["torch"], state["rng"]["torch"])


@pytest.mark.parametrize("damage", ["truncated", "flipped", "header", "empty"])
def test_damage_is_detected(damage):
    data = bytearray(encode(state_at(1)))
    if damage == "truncated":
        data = data[: len(data) - 100]
    elif damage == "flipped":
        data[len(data) // 2] ^= 0x01  # a single bit
    elif damage == "header":
        data[:8] = b"PK\x03\x04xxxx"
    else:
        data = bytearray()
    with pytest.raises(CorruptCheckpoint):
        decode(bytes(data))


class _Payload:
    """Unpickling this would run code (create a marker file) -- a loader must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_malicious_pickle_with_a_valid_checksum_runs_no_code(tmp_path):
    marker = tmp_path / "code-ran"
    data = encode({"iteration": 3, "evil": _Payload(marker)})  # a correct header and checksum
    assert pickle.loads(pickle.dumps(_Payload(marker))) is None and marker.exists()  # it is live
    marker.unlink()
    with pytest.raises(CorruptCheckpoint, match="unreadable payload"):
        decode(data)
    RunFolder(tmp_path).checkpoint.write_bytes(data)
    with pytest.raises(UserError, match="damaged"):
        checkpoint.load(RunFolder(tmp_path))
    assert not marker.exists()


def test_save_keeps_the_previous_checkpoint(tmp_path):
    assert checkpoint.load(RunFolder(tmp_path)) == (None, [])
    checkpoint.save(RunFolder(tmp_path), state_at(5))
    size = checkpoint.save(RunFolder(tmp_path), state_at(10))
    assert size == RunFolder(tmp_path).checkpoint.stat().st_size
    assert decode(RunFolder(tmp_path).previous_checkpoint.read_bytes())["iteration"] == 5
    state, warnings = checkpoint.load(RunFolder(tmp_path))
    assert state["iteration"] == 10 and warnings == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.prev.pt", "checkpoint.pt"]  # no temp files left


def test_a_damaged_current_falls_back_with_a_warning_and_both_damaged_is_an_error(tmp_path):
    checkpoint.save(RunFolder(tmp_path), state_at(5))
    checkpoint.save(RunFolder(tmp_path), state_at(10))
    RunFolder(tmp_path).checkpoint.write_bytes(RunFolder(tmp_path).checkpoint.read_bytes()[:500])
    state, warnings = checkpoint.load(RunFolder(tmp_path))
    assert state["iteration"] == 5
    assert "checkpoint.pt is unusable" in warnings[0] and "iteration 5" in warnings[-1]
    RunFolder(tmp_path).previous_checkpoint.write_bytes(b"")
    with pytest.raises(UserError, match=f"every checkpoint in {tmp_path} is damaged"):
        checkpoint.load(RunFolder(tmp_path))


def test_a_crash_between_the_two_renames_leaves_a_loadable_checkpoint(tmp_path):
    """save() stages checkpoint.pt.new, moves current to prev, then new to current."""
    checkpoint.save(RunFolder(tmp_path), state_at(5))
    os.replace(RunFolder(tmp_path).checkpoint, RunFolder(tmp_path).previous_checkpoint)
    RunFolder(tmp_path).staged_checkpoint.write_bytes(encode(state_at(10)))
    assert checkpoint.load(RunFolder(tmp_path))[0]["iteration"] == 10


def test_a_1080p_lbfgs_checkpoint_stays_under_1_gb():
    """The bound: a 1920x1080 image with the default L-BFGS history (10), history full.

    About 600 MB: 24 float32 copies of the 24.9 MB image (the image, z, 10 old_dirs, 10
    old_stps, d and prev_flat_grad). History 100 would be ~5 GB.
    """
    settings = Optimizer()
    assert settings.history_size == 10
    target = torch.linspace(0, 255, 1920).expand(1, 3, 1080, 1920)
    image = torch.zeros(1, 3, 1080, 1920, requires_grad=True)
    optimizer = make_optimizer(image, settings)
    weights = torch.linspace(1, 2, 1080).view(1, 1, 1080, 1)  # an ill-conditioned quadratic

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = (weights * (image - target) ** 2).sum()
        loss.backward()
        return loss

    steps = 0
    while len(optimizer.state_dict()["state"].get(0, {}).get("old_dirs", [])) < settings.history_size and steps < 30:
        optimizer.step(closure)
        steps += 1
    lbfgs = optimizer.state_dict()["state"][0]
    assert len(lbfgs["old_dirs"]) == settings.history_size  # the history is full
    size = len(encode({"iteration": steps, "image": image.detach().clone(), "optimizer": optimizer.state_dict()}))
    assert size < 1_000_000_000, f"{size / 1e6:.0f} MB"
    assert size > 20 * image.numel() * 4  # sanity: the history really is in the file


@pytest.mark.parametrize(("found", "words"), [(2, "in format 2, written by a newer timelapse-nst"), ("x", "'x'")])
def test_a_checkpoint_in_an_unknown_format_is_refused_not_misread(tmp_path, found, words):
    checkpoint.save(RunFolder(tmp_path), {**state_at(5), "format": found})
    with pytest.raises(UserError) as refused:
        checkpoint.load(RunFolder(tmp_path))
    message = str(refused.value)
    assert words in message and str(RunFolder(tmp_path).checkpoint) in message and "\n" not in message
    if found == 2:
        assert "pip install --upgrade timelapse-nst" in message


def test_too_little_memory_to_read_a_checkpoint_says_memory_not_damage(tmp_path):
    """A real allocation failure: the child's address space is capped just above what it uses."""
    checkpoint.save(RunFolder(tmp_path), {**state_at(5), "image": torch.zeros(12_500_000)})  # 50 MB
    code = """
        import resource, sys, psutil
        from timelapse_nst.errors import UserError
        from timelapse_nst.rendering import checkpoint
        from timelapse_nst.runfolder.folder import RunFolder
        used = psutil.Process().memory_info().vms
        resource.setrlimit(resource.RLIMIT_AS, (used + 20_000_000, resource.RLIM_INFINITY))
        try:
            checkpoint.load(RunFolder(sys.argv[1]))
        except UserError as error:
            print(error)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"not enough memory to read {RunFolder(tmp_path).checkpoint} (48 MiB)")
    assert "the checkpoint itself is intact" in result.stdout and "damaged" not in result.stdout
