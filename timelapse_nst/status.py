"""``timelapse-nst status RUN``: how far a render got, read from its folder without torch."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

from timelapse_nst.run import PROGRESS, RunFolder


def read_progress(run: RunFolder) -> dict[str, Any] | None:
    try:
        return json.loads((run.root / PROGRESS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def last_log_line(run: RunFolder) -> dict[str, Any] | None:
    """The last complete line of log.jsonl (a line cut by a kill is skipped)."""
    try:
        with open(run.log, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().split(b"\n")
    except OSError:
        return None
    for line in reversed(lines[:-1] if lines and lines[-1] else lines):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def video_state(run: RunFolder) -> str:
    if not run.video.exists():
        return "not made yet"
    sources = [run.final, run.manifest, *run.frames.glob("*.png")]  # the manifest holds the video settings
    newest = max((p.stat().st_mtime for p in sources if p.exists()), default=0.0)
    return "up to date" if run.video.stat().st_mtime >= newest else "older than the frames (run `assemble`)"


def describe(root: Path) -> str:
    run = RunFolder(root)
    manifest = run.read_manifest()
    config = manifest["config"]
    total = int(manifest["total_iterations"])
    progress = read_progress(run)
    last = last_log_line(run)
    done = int(last["iteration"]) if last else 0
    complete = bool(progress and progress.get("complete"))
    lines = [
        (
            f"run:        {run.root} ({config.get('name')}, {config.get('size')} px, "
            f"{config['optimizer']['name']}, weights {manifest.get('weights')})"
        ),
        f"iteration:  {done} of {total} ({100 * done / total:.0f}%)" + (" — complete" if complete else ""),
        f"frames:     {len(run.frame_iterations())} captured",
    ]
    if progress:
        ago = time.time() - float(progress["saved_at"])
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(progress["saved_at"])))
        lines.append(f"checkpoint: iteration {progress['iteration']}, saved {stamp} ({ago:.0f} s ago)")
    else:
        lines.append("checkpoint: none yet (a resume starts from the beginning)")
    if last:
        losses = "  ".join(f"{k} {v:.4g}" for k, v in last["losses"].items())
        lines.append(f"losses:     {losses} (iteration {last['iteration']})")
    lines.append(f"video:      {video_state(run)}")
    if complete:
        lines.append(f"remake:     timelapse-nst assemble {shlex.quote(str(run.root))}")
    else:
        lines.append(f"resume:     timelapse-nst resume {shlex.quote(str(run.root))}")
    return "\n".join(lines)
