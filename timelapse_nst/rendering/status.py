"""``timelapse-nst status RUN``: how far a render got, read from its folder without torch."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

from timelapse_nst.rendering.progress import duration
from timelapse_nst.runfolder.clip import ClipRecord, clip_record, read_clip_log
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.runfolder.log import LogEntry, last_entry
from timelapse_nst.runfolder.losses import losses_line


def read_progress(run: RunFolder) -> dict[str, Any] | None:
    """progress.json (the summary of the last checkpoint), or None."""
    try:
        return json.loads(run.progress.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def video_state(run: RunFolder) -> str:
    """Whether the video (a clip's: both videos) is newer than everything it is made from."""
    videos = [run.video, *([run.stylised_video] if run.stylised.is_dir() else [])]
    if not all(video.exists() for video in videos):
        return "not made yet"
    painted = (run.stylised_frame(index) for index in range(run.stylised_count()))
    sources = [
        run.final,
        run.manifest,
        *(frame.path for frame in run.frame_list()),
        *painted,
    ]  # the manifest: video settings
    newest = max((p.stat().st_mtime for p in sources if p.exists()), default=0.0)
    made = min(video.stat().st_mtime for video in videos)
    return "up to date" if made >= newest else "older than the frames (run `assemble`)"


def describe(root: Path) -> str:
    """A few aligned lines: what the run is, where it stands, and what to do next."""
    run = RunFolder(root)
    manifest = run.read_manifest()
    config = manifest["config"]
    total = int(manifest["total_iterations"])
    progress = read_progress(run)
    last = last_entry(run.log)
    done = last.iteration if last else 0
    complete = bool(progress and progress.get("complete"))
    running = run.holder()
    clip = clip_record(manifest)
    lines = [
        (
            f"run:        {run.root} ({config.get('name')}, {config.get('size')} px, "
            f"{config['optimizer']['name']}, weights {manifest.get('weights')})"
        ),
        f"iteration:  {done} of {total} ({100 * done / max(total, 1):.0f}%)" + (" — complete" if complete else ""),
        f"inputs:     {_inputs_line(run, manifest, last)}",
        f"frames:     {len(run.frame_list())} captured" + (" (frame 1's timelapse)" if clip is not None else ""),
    ]
    if clip is not None:  # frame i of n and the iteration within it, in place of the iteration
        lines[1:2] = _clip_lines(run, clip, progress, complete)
    if running is not None:
        who = f" (process {running})" if running > 0 else ""
        pace = _pace(progress, done, total) if clip is None else _clip_pace(run, clip, progress)
        lines.insert(1, f"state:      running{who}{pace}")
    lines.append(_checkpoint_line(progress))
    finished = read_clip_log(run.clip_log) if clip is not None else []
    if finished:  # a clip: the last painted frame's own objective (clip.jsonl keeps no weights)
        lines.append(f"losses:     {losses_line(finished[-1].losses, {})} (frame {finished[-1].frame + 1})")
    elif last:
        lines.append(f"losses:     {losses_line(last.losses, last.loss_weights)} (iteration {last.iteration})")
    lines.append(f"video:      {video_state(run)}")
    lines.append(_next_step(run, running, complete))
    return "\n".join(lines)


def _clip_lines(run: RunFolder, clip: ClipRecord, progress: dict[str, Any] | None, complete: bool) -> list[str]:
    """'clip: 48 frames at 30 fps ...' and 'frame: 7 of 48 (6 painted), iteration 12 of 40'."""
    painted = len(read_clip_log(run.clip_log))
    rate = f"{float(clip.fps):.4g} fps"
    turned = f", turned {clip.rotation}°" if clip.rotation else ""
    sound = "with sound" if clip.audio else "no sound"
    lines = [
        f"clip:       {clip.frames} frames at {rate} ({clip.start:g}-{clip.end:g} s of the source), "
        f"{clip.size[0]}x{clip.size[1]}{turned}, {sound}"
    ]
    if complete or painted >= clip.frames:
        return [*lines, f"frame:      {clip.frames} of {clip.frames} painted — complete"]
    within = ""
    if progress and int(progress.get("frame", -1)) == painted:
        within = f", iteration {progress['iteration']} of {progress['total']} (at the last checkpoint)"
    return [*lines, f"frame:      {painted + 1} of {clip.frames} ({painted} painted){within}"]


def _clip_pace(run: RunFolder, clip: ClipRecord, progress: dict[str, Any] | None) -> str:
    """', 41 s a frame, about 3 min 05 s left', from the average pace up to the last checkpoint."""
    painted = len(read_clip_log(run.clip_log))
    if not progress or not progress.get("elapsed") or not painted:
        return ""
    per_frame = float(progress["elapsed"]) / painted
    return f", {per_frame:.0f} s a frame, about {duration((clip.frames - painted) * per_frame)} left"


def _inputs_line(run: RunFolder, manifest: dict[str, Any], last: LogEntry | None) -> str:
    """'photo.jpg in the style of a.jpg (70%) + b.jpg (30%)', the shares as of the last iteration."""
    content, styles = run.input_files(manifest)
    shares = last.blend if last is not None and len(last.blend) == len(styles) else None
    named = [
        style.name + (f" ({share:.0%})" if shares and len(styles) > 1 else "")
        for style, share in zip(styles, shares or [None] * len(styles), strict=True)
    ]
    return f"{content.name} in the style of {' + '.join(named)}"


def _pace(progress: dict[str, Any] | None, done: int, total: int) -> str:
    """', 1.9 it/s, about 1 min 35 s left', from the average pace up to the last checkpoint."""
    if not progress or not progress.get("elapsed") or not progress.get("iteration"):
        return ""
    rate = float(progress["iteration"]) / float(progress["elapsed"])
    left = (total - done) / rate if rate > 0 else 0.0
    return f", {rate:.2f} it/s, about {duration(left)} left"


def _checkpoint_line(progress: dict[str, Any] | None) -> str:
    if not progress:
        return "checkpoint: none yet (a resume starts from the beginning)"
    ago = time.time() - float(progress["saved_at"])
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(progress["saved_at"])))
    frame = f"frame {int(progress['frame']) + 1}, " if "frame" in progress else ""
    return f"checkpoint: {frame}iteration {progress['iteration']}, saved {stamp} ({ago:.0f} s ago)"


def _next_step(run: RunFolder, running: int | None, complete: bool) -> str:
    where = shlex.quote(str(run.root))
    if running is not None:
        how = f"kill -INT {running}" if running > 0 else "Ctrl-C in its terminal"
        return f"stop:       {how} (it saves a checkpoint), then: timelapse-nst resume {where}"
    if complete:
        return f"remake:     timelapse-nst assemble {where}"
    return f"resume:     timelapse-nst resume {where}"
