"""An interrupted render, resumed, is byte-identical to one that never stopped.

Every test drives the real CLI in a subprocess (seeded random VGG19 weights, 64 px, 30
L-BFGS iterations, a checkpoint every 5) and compares final.png, every frame, log.jsonl and
render.yaml byte for byte with one uninterrupted reference run; the chain test compares the
video, the contact sheet and the loss plot too. Kill points are reached by watching the run
folder (frames, progress.json, the video's .partial file), not by hooks in the product.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import QUICK, make_image, shared, wait_until

from timelapse_nst.api import resume
from timelapse_nst.engine.weights import RANDOM_WEIGHTS_WARNING
from timelapse_nst.rendering import checkpoint
from timelapse_nst.rendering.status import read_progress
from timelapse_nst.runfolder.folder import RunFolder

ITERATIONS = 30
# The video settings are part of every run (render.yaml records them) even where --no-video
# skips it: a small, short video whose encode lasts long enough to be caught in the act.
RENDER = [
    *QUICK,
    *f"--size 64 --iterations {ITERATIONS} --set checkpoint.every_iterations=5 --quiet".split(),
    *["--set", "video.resolution=160x90", "--set", "video.duration=6", "--set", "video.fps=10"],
]
PAINTING = ("final.png", "log.jsonl", "render.yaml")
VIDEO_FILES = ("timelapse.mp4", "contact_sheet.png", "losses.png")


# -- helpers ---------------------------------------------------------------------------------


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "timelapse_nst", *args]


def cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=180, check=False, env=env, **kwargs)


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def frame_count(run: Path) -> int:
    return len(RunFolder(run).frame_iterations())


def checkpointed(run: Path) -> int:
    """The iteration of the last checkpoint, as progress.json (written after it) says; -1: none."""
    progress = read_progress(RunFolder(run))
    return int(progress["iteration"]) if progress else -1


def partial_frames(run: Path) -> list[str]:
    try:
        return [name for name in os.listdir(run / "frames") if name.endswith(".partial")]
    except FileNotFoundError:
        return []


def stop_when(
    process: subprocess.Popen,
    run: Path,
    ready: Callable[[Path], bool],
    *,
    sig: int = signal.SIGKILL,
    timeout: float = 120,
) -> None:
    """Send ``sig`` the moment ``ready(run)`` holds; fail if the process ends first."""
    wait_until(process, lambda: ready(run), what="the kill point", timeout=timeout)
    process.send_signal(sig)
    process.wait(timeout=60)


def outputs(run: Path, *, video: bool = False) -> dict[str, bytes]:
    """Every file a user keeps, by name (checkpoints, progress.json and the lock excluded)."""
    names = [*PAINTING, *(VIDEO_FILES if video else ())]
    files = {name: (run / name).read_bytes() for name in names if (run / name).exists()}
    files.update({f"frames/{p.name}": p.read_bytes() for p in sorted((run / "frames").iterdir())})
    files.update({f"inputs/{p.name}": p.read_bytes() for p in sorted((run / "inputs").iterdir())})
    return files


def assert_identical(run: Path, reference: dict[str, bytes], *, video: bool = False) -> None:
    got = outputs(run, video=video)
    expected = {k: v for k, v in reference.items() if video or k not in VIDEO_FILES}
    assert sorted(got) == sorted(expected), "files missing or extra"
    different = [name for name in expected if got[name] != expected[name]]
    assert not different, f"differ from the uninterrupted render: {different}"
    leftovers = [str(p) for p in run.rglob("*") if p.name.endswith((".new", ".partial"))]
    assert not leftovers, leftovers


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 2 and one ``error:`` line; besides it, only the --weights random warning may print."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    rest = " ".join(result.stderr.replace(lines[0], "").split())
    assert rest in ("", " ".join(f"warning: {RANDOM_WEIGHTS_WARNING}".split())), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("inputs")  # same bytes on every worker (seeded)
    return make_image(folder / "photo.png", (64, 48), seed=1), make_image(folder / "painting.png", (40, 40), seed=2)


@pytest.fixture(scope="module")
def reference(images, tmp_path_factory, worker_id) -> dict[str, bytes]:
    """The uninterrupted render (video included) every interrupted one must equal."""

    def build(folder: Path) -> None:
        result = cli("render", *map(str, images), *RENDER, "--out", str(folder / "run"))
        assert result.returncode == 0, result.stderr

    run = shared(tmp_path_factory, worker_id, "reference", build) / "run"
    assert frame_count(run) == ITERATIONS + 1  # capture every 1, iteration 0 included
    return outputs(run, video=True)


@pytest.fixture(scope="module")
def stopped(images, tmp_path_factory, worker_id) -> tuple[Path, subprocess.CompletedProcess]:
    """A render stopped by Ctrl-C (SIGINT) after its second checkpoint. Tests work on copies."""

    def build(folder: Path) -> None:
        process = start("render", *map(str, images), *RENDER, "--no-video", "--out", str(folder / "run"))
        stop_when(process, folder / "run", lambda r: checkpointed(r) >= 10, sig=signal.SIGINT)
        stdout, stderr = process.communicate()
        (folder / "result.json").write_text(json.dumps([process.returncode, stdout, stderr]))

    folder = shared(tmp_path_factory, worker_id, "stopped", build)
    returncode, stdout, stderr = json.loads((folder / "result.json").read_text())
    return folder / "run", subprocess.CompletedProcess([], returncode, stdout, stderr)


def copy_of(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


# -- SIGKILL at every stage ------------------------------------------------------------------


def test_sigkill_at_every_stage_then_resume_is_byte_identical(images, reference, tmp_path):
    run = tmp_path / "run"
    # 1. Killed before the first checkpoint: a resume starts over (the same bytes again).
    process = start("render", *map(str, images), *RENDER, "--out", str(run))
    stop_when(process, run, lambda r: frame_count(r) >= 2)
    assert not list(run.glob("checkpoint*")), "killed too late: a checkpoint was already written"

    # 2. Killed mid-run, between two checkpoints.
    process = start("resume", str(run), "--quiet")
    stop_when(process, run, lambda r: checkpointed(r) >= 10 and frame_count(r) >= checkpointed(r) + 2)
    assert 10 <= checkpointed(run) < ITERATIONS

    # 3. Killed while a frame is being written (its .partial exists). This resume runs with another
    #    thread count in the environment: the checkpoint's count wins, so the floats agree.
    done = checkpointed(run)
    process = start("resume", str(run), "--quiet", env={**os.environ, "OMP_NUM_THREADS": "2"})
    stop_when(process, run, lambda r: checkpointed(r) > done and bool(partial_frames(r)))
    assert checkpointed(run) < ITERATIONS

    # 4. Killed during assembly: the painting is complete, the video half encoded.
    process = start("resume", str(run), "--quiet")
    stop_when(process, run, lambda r: bool(list(r.glob("timelapse.mp4.*.partial"))))
    assert (run / "final.png").exists() and not (run / "timelapse.mp4").exists()

    # 5. The last resume finishes; it takes over the lock the killed process left.
    result = cli("resume", str(run))
    assert result.returncode == 0, result.stderr
    assert "took over the lock of process" in result.stderr
    assert_identical(run, reference, video=True)


# -- Ctrl-C ----------------------------------------------------------------------------------


def test_sigint_checkpoints_prints_the_resume_command_and_exits_130(stopped, images, reference, tmp_path):
    run, result = stopped
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    assert f"resume with: timelapse-nst resume {run}" in result.stderr
    stop = int(result.stderr.split("stopped after iteration ")[1].split()[0])
    assert 10 <= stop < ITERATIONS
    # The checkpoint is at the stop iteration, and the folder agrees with it exactly.
    state, warnings = checkpoint.load(RunFolder(run))
    assert state is not None and not warnings
    assert state["iteration"] == stop and checkpointed(run) == stop
    assert RunFolder(run).frame_iterations() == list(range(stop + 1))
    assert len((run / "log.jsonl").read_bytes().splitlines()) == stop == state["log"]["lines"]
    # `render` again with the same inputs and settings continues (no --restart needed).
    again = copy_of(run, tmp_path)
    result = cli("render", *map(str, images), *RENDER, "--no-video", "--out", str(again))
    assert result.returncode == 0, result.stderr
    assert_identical(again, reference)


# -- damaged checkpoints ---------------------------------------------------------------------


def test_damaged_checkpoint_falls_back_to_the_previous_one(stopped, reference, tmp_path):
    run = copy_of(stopped[0], tmp_path)
    current = RunFolder(run).checkpoint
    current.write_bytes(current.read_bytes()[: current.stat().st_size // 2])  # truncated
    result = cli("resume", str(run), "--no-video")  # not --quiet: the fallback is reported
    assert result.returncode == 0, result.stderr
    assert "checkpoint.pt is unusable" in result.stderr and "continuing from the checkpoint" in result.stderr
    assert_identical(run, reference)


def test_every_checkpoint_damaged_is_a_one_line_error(stopped, tmp_path):
    run = copy_of(stopped[0], tmp_path)
    for path in (RunFolder(run).checkpoint, RunFolder(run).previous_checkpoint):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped byte
        path.write_bytes(bytes(data))
    assert_one_line_error(cli("resume", str(run), "--quiet", "--no-video"), "every checkpoint", "damaged")


# -- a second process, a different render ----------------------------------------------------


def test_a_busy_run_folder_is_refused_with_the_holder_named(stopped, tmp_path):
    run = copy_of(stopped[0], tmp_path)
    holder = RunFolder(run)
    assert holder.lock() is None  # a clean exit (the SIGINT) leaves no stale pid behind
    try:
        result = cli("resume", str(run), "--quiet", "--no-video")
    finally:
        holder.unlock()
    assert_one_line_error(result, "in use by process", str(os.getpid()))
    assert checkpointed(run) == checkpointed(stopped[0])  # untouched


def test_a_different_render_into_the_same_folder_is_refused(stopped, images, tmp_path):
    run = copy_of(stopped[0], tmp_path)
    before = outputs(run)
    other_style = make_image(tmp_path / "other.png", (40, 40), seed=3)
    result = cli(
        "render",
        str(images[0]),
        str(other_style),
        *RENDER,
        "--set",
        "loss_weights.style=1e3",
        "--no-video",
        "--out",
        str(run),
    )
    line = assert_one_line_error(
        result, "holds a different render", "the style image", "loss_weights.style", "--restart"
    )
    assert "the content image" not in line
    assert outputs(run) == before  # nothing written, nothing deleted


# -- a full disk -----------------------------------------------------------------------------


def _file_size_limit(limit: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_full_disk_is_a_clear_error_and_resume_finishes_the_render(images, reference, tmp_path):
    run = tmp_path / "run"
    # Checkpoints grow with the L-BFGS history: about 0.43 MB at iteration 5 and 0.77 MB at
    # 10 for 64x48 (frames are ~8 kB). A 0.6 MB file limit lets the first through and not
    # the second, as a disk that fills up mid-render would.
    result = subprocess.run(
        command("render", *map(str, images), *RENDER, "--no-video", "--out", str(run)),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        preexec_fn=_file_size_limit(600_000),
    )
    assert result.returncode == 2, result.stderr
    line = assert_one_line_error(result, "disk is full", str(run), f"timelapse-nst resume {run}")
    assert "last checkpoint is intact" in line
    state, warnings = checkpoint.load(RunFolder(run))
    assert state is not None and state["iteration"] == 5 and not warnings
    result = cli("resume", str(run), "--quiet", "--no-video")
    assert result.returncode == 0, result.stderr
    assert_identical(run, reference)


# -- what a checkpoint holds -----------------------------------------------------------------


def test_a_checkpoint_holds_everything_needed_to_continue_exactly(stopped):
    run = stopped[0]
    state, _ = checkpoint.load(RunFolder(run))
    manifest = RunFolder(run).read_manifest()
    lbfgs = state["optimizer"]["state"][0]
    assert state["image"].shape == (1, 3, 48, 64) and state["image"].dtype.is_floating_point
    assert 0 < len(lbfgs["old_dirs"]) == len(lbfgs["old_stps"]) <= 10  # the L-BFGS history itself
    assert {"d", "t", "H_diag", "prev_flat_grad", "n_iter"} <= set(lbfgs)
    assert state["iteration"] == state["capture"]["last_iteration"] and state["scale"] == 0
    assert state["rng"]["torch"].dtype == torch.uint8 and state["threads"] >= 1
    log = (run / "log.jsonl").read_bytes()
    assert state["log"] == {"lines": log.count(b"\n"), "bytes": len(log)}
    assert state["render_hash"] == manifest["render_hash"]
    content_sha, style_sha = manifest["inputs"]["content"]["sha256"], manifest["inputs"]["styles"][0]["sha256"]
    assert state["inputs"] == {"content": content_sha, "style": style_sha}


def test_a_resume_with_no_iteration_left_still_marks_the_render_complete(stopped, reference, tmp_path):
    """Killed after final.png but before the "complete" checkpoint: the next resume must say so."""
    run = copy_of(stopped[0], tmp_path)
    resume(run, make_video=False)  # in-process this time: the Python API
    assert_identical(run, reference)
    state, _ = checkpoint.load(RunFolder(run))
    assert state["complete"] and state["iteration"] == ITERATIONS
    checkpoint.save(RunFolder(run), {**state, "complete": False})
    resume(run, make_video=False)
    assert checkpoint.load(RunFolder(run))[0]["complete"] and read_progress(RunFolder(run))["complete"]
    assert_identical(run, reference)
