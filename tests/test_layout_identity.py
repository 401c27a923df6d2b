"""The packages' move changed no pixel: the same tiny renders, painted by the tree before the move
(the flat layout, extracted from git history) and by this tree, give the same bytes.

Each tree paints in its own subprocess, with its folder first on PYTHONPATH: final.png and every
frame must be equal byte for byte, and every line of log.jsonl equal in value (the log's keys
were renamed since: ``weights`` is ``loss_weights`` now).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest
from conftest import REPO, make_image

BEFORE_THE_MOVE = "6044838"  # the flat layout; its child commit moved 31 modules into packages

PAINT = """
import json, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from timelapse_nst import api
photo, first, second, out = sys.argv[1:5]
cases = {
    "lbfgs": ([first], ["size=40", "optimizer.iterations=6"]),
    "adam-two-paintings": (
        [first, second],
        ["size=40", "optimizer.iterations=5", "optimizer.name=adam", "init=noise", "color.preserve=luminance"],
    ),
}
for name, (styles, overrides) in cases.items():
    overrides = [*overrides, "precision=fp32", "device=cpu", "capture.spacing=every"]
    api.render(photo, styles, out=Path(out) / name, preset="quick-preview", overrides=overrides,
               weights="random", make_video=False)
print(json.dumps({"api": api.__file__}))
"""


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, check=False)


def _tree_before_the_move(folder: Path) -> Path:
    """The package and presets of the commit before the move, extracted into ``folder``."""
    if _git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("this checkout has no git history to take the tree before the move from")
    if _git("cat-file", "-e", f"{BEFORE_THE_MOVE}^{{commit}}").returncode != 0:
        pytest.skip(f"this checkout's history lacks commit {BEFORE_THE_MOVE} (a shallow clone?)")
    archive = _git("archive", "--format=tar", BEFORE_THE_MOVE, "timelapse_nst", "presets")
    assert archive.returncode == 0, archive.stderr.decode()
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def _paint(tree: Path, inputs: list[Path], out: Path, cache: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree), "TIMELAPSE_NST_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PAINT, *map(str, inputs), str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
        check=False,
    )  # cwd: `python -c` puts the working folder first on sys.path
    assert done.returncode == 0, done.stderr
    used = Path(json.loads(done.stdout.splitlines()[-1])["api"])
    assert used.is_relative_to(tree), f"{tree} was to paint, {used} did"


def _log_values(log: Path) -> list[dict]:
    """The records by their values: ``weights`` under its later name, and the ``format`` stamp that
    records carry since (it says how to read them, not what was painted) left out."""
    records = [json.loads(line) for line in log.read_text().splitlines()]
    renamed = [{("loss_weights" if key == "weights" else key): value for key, value in r.items()} for r in records]
    return [{key: value for key, value in r.items() if key != "format"} for r in renamed]


@pytest.mark.slow
def test_renders_before_and_after_the_move_are_byte_identical(tmp_path: Path) -> None:
    before = _tree_before_the_move(tmp_path / "before")
    inputs = [
        make_image(tmp_path / "photo.png", (48, 36), seed=1),
        make_image(tmp_path / "first.png", (40, 40), seed=2),
        make_image(tmp_path / "second.png", (36, 44), seed=3),
    ]
    _paint(before, inputs, tmp_path / "old", tmp_path / "cache")
    _paint(REPO, inputs, tmp_path / "new", tmp_path / "cache")
    for case in ("lbfgs", "adam-two-paintings"):
        old, new = tmp_path / "old" / case, tmp_path / "new" / case
        assert (new / "final.png").read_bytes() == (old / "final.png").read_bytes(), case
        frames = sorted(path.name for path in (old / "frames").iterdir())
        assert frames == sorted(path.name for path in (new / "frames").iterdir()) and len(frames) > 4
        for name in frames:
            assert (new / "frames" / name).read_bytes() == (old / "frames" / name).read_bytes(), (case, name)
        assert _log_values(new / "log.jsonl") == _log_values(old / "log.jsonl"), case
