"""A run folder made by timelapse-nst 0.3 (the loss terms' section was `weights:`, no format
versions): it still loads, shows its status and assembles; its checkpoint is refused in one line."""

from __future__ import annotations

import json

import pytest
import yaml

from timelapse_nst import assemble, render, resume
from timelapse_nst.errors import UserError
from timelapse_nst.rendering import checkpoint
from timelapse_nst.rendering.status import describe
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.version import __version__

SMALL = ["size=48", "optimizer.iterations=3", "video.duration=1", "video.fps=10", "video.resolution=160x90"]


def as_made_by_0_3(run: RunFolder) -> None:
    """What 0.3 wrote: `weights:` in render.yaml and log.jsonl, no `format` anywhere, its version."""
    manifest = run.read_manifest()
    manifest.pop("format")
    config = manifest["config"]
    config["weights"] = config.pop("loss_weights")
    run.write_manifest({**manifest, "tool": {"name": "timelapse-nst", "version": "0.3.0"}})
    records = [json.loads(line) for line in run.log.read_text().splitlines()]
    lines = []
    for record in records:
        record.pop("format")
        record["weights"] = record.pop("loss_weights")
        lines.append(json.dumps(record))
    run.log.write_text("\n".join(lines) + "\n")
    for path in (run.checkpoint, run.previous_checkpoint):
        if path.exists():
            state = checkpoint.decode(path.read_bytes())
            state.pop("format")
            # 0.3 hashed its config with `weights:`: the hash this version computes differs
            state.update(version="0.3.0", render_hash="0123456789abcdef")
            path.write_bytes(checkpoint.encode(state))


def test_a_0_3_folder_assembles_and_its_checkpoint_is_refused_in_one_line(tmp_path, content_path, style_path):
    out = tmp_path / "run"
    render(
        content_path, style_path, out=out, preset="quick-preview", overrides=SMALL, weights="random", make_video=False
    )
    run = RunFolder(out)
    as_made_by_0_3(run)
    assert yaml.safe_load(run.manifest.read_text())["config"]["weights"]["style"] == 30000.0
    assert "iteration:  3 of 3" in describe(out)
    video = assemble(out)
    assert video == run.video and video.stat().st_size > 0
    with pytest.raises(UserError) as refused:
        resume(out, make_video=False)
    assert str(refused.value) == (
        f"{out} was painted by timelapse-nst 0.3.0, whose checkpoints this version ({__version__}) cannot continue; "
        f"its frames can still be made into a video: timelapse-nst assemble {out}"
    )
