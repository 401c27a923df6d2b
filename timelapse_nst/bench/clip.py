"""The clip study: a painted clip against each of its frames painted on its own, and what it costs.

The clip is made from the shipped photo: a slow pan and zoom over one part of it, then a scene cut
to another part (zoomed in further, panning back), encoded as H.264. Then, with the same preset,
network weights and inputs (the render's own input frames, ``source/``):

- ours: the clip render (``api.render`` of the clip) in a subprocess of its own, so its peak RSS is
  its own; a hook times every frame (from its first step to the next frame's) and reads the peak
  RSS (VmHWM) once frame 10 and once the last frame is painted; the optical flow (OpenCV DIS, the
  render's own calls) is timed around ``clip.flow.optical_flow``;
- independent: every input frame painted as a still (``api.render`` of the frame's PNG) with the
  preset's full iterations, as a user without clip support would.

Figures (the goals in brackets): (a) Lai et al.'s warping error of ours over the independent
frames' (<= 0.3), flow on the input frames, pairs across the cut left out; (b) each frame's
objective over its independent frame's, each scored against its own input frame as saved (8-bit)
with the seed's objective in fp32 (<= 1.10, the worst frame); (c) seconds per later frame
(median) over the first frame's (<= 0.5); (d) the flow's share of the clip render's time (<= 5%);
(e) the peak RSS at the last frame over that at frame 10 (within 5%).
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from timelapse_nst import ffmpeg
from timelapse_nst.bench.memory import peak_self_mb
from timelapse_nst.bench.ours import bench_config, render_job
from timelapse_nst.bench.settings import BenchSettings

if TYPE_CHECKING:
    import numpy as np

TARGET_WARPING = 0.3
TARGET_OBJECTIVE = 1.10
TARGET_LATER_FRAME = 0.5
TARGET_FLOW_SHARE = 0.05
TARGET_RSS_GROWTH = 0.05
RSS_FRAME = 10  # the "peak RSS at frame 10"
CLIP_FPS = 12


@dataclass
class ClipStudy:
    """The clip study's figures (see the module notes)."""

    width: int
    height: int
    frames: int
    cut: int  # the first frame after the scene cut
    first_iterations: int
    later_iterations: int
    starts: list[str]  # how each frame began (clip.jsonl): fresh, warped, cut
    warping_ours: float
    warping_independent: float
    objective_ratios: list[float]  # per frame: ours / independent
    frame_seconds: list[float]  # per frame, ours
    independent_seconds: list[float]  # per frame painted on its own
    flow_seconds: float
    render_seconds: float
    rss_mb: dict[str, float]  # {"frame_10": ..., "last": ...}

    @property
    def warping_ratio(self) -> float:
        return self.warping_ours / self.warping_independent

    @property
    def worst_objective(self) -> float:
        return max(self.objective_ratios)

    @property
    def later_over_first(self) -> float:
        return statistics.median(self.frame_seconds[1:]) / self.frame_seconds[0]

    @property
    def flow_share(self) -> float:
        return self.flow_seconds / self.render_seconds

    @property
    def rss_growth(self) -> float:
        return self.rss_mb["last"] / self.rss_mb["frame_10"] - 1


def measure_clip(settings: BenchSettings, work: Path) -> ClipStudy:
    """The clip study at ``settings.clip_size`` px (see the module notes)."""
    folder = work / "clip-study"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    clip = make_study_clip(settings.content, folder / "pan-zoom-cut.mp4", frames=settings.clip_frames)
    ours = _in_subprocess(settings, clip, folder / "ours")
    sources = sorted((folder / "ours" / "source").glob("*.png"))
    independent, seconds = _paint_each(settings, sources, folder / "independent")
    study = _score(settings, folder / "ours", independent, ours)
    study.independent_seconds = seconds
    return study


# -- the clip -------------------------------------------------------------------------------


def make_study_clip(photo: Path, out: Path, *, frames: int, size: tuple[int, int] = (512, 288)) -> Path:
    """``frames`` frames of ``photo``: a pan and zoom, then (from the middle on) a cut to another
    part of it panning back; H.264 at CLIP_FPS. Returns ``out``."""
    from timelapse_nst.images import load_image

    picture = load_image(photo)
    cut = cut_frame(frames)
    pixels = b"".join(_shot(picture, index, cut, frames, size).tobytes() for index in range(frames))
    command = [ffmpeg.exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "{}x{}".format(*size)]
    command += ["-framerate", str(CLIP_FPS), "-i", "pipe:0", "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p"]
    subprocess.run([*command, str(out)], input=pixels, check=True, capture_output=True)
    return out


def cut_frame(frames: int) -> int:
    """The first frame of the second shot."""
    return frames // 2


def _shot(picture: Any, index: int, cut: int, frames: int, size: tuple[int, int]) -> Any:
    """Frame ``index``: a window over ``picture`` (a PIL image) resized to ``size``."""
    from PIL import Image

    width, height = picture.size
    aspect = size[0] / size[1]
    if index < cut:  # the first shot: the upper left, zooming in from 80% to 68% of the width while panning right
        t = index / max(1, cut - 1)
        span = width * (0.80 - 0.12 * t)
        left, top = width * 0.04 * t, height * 0.05
    else:  # after the cut: the lower right, closer, panning left
        t = (index - cut) / max(1, frames - cut - 1)
        span = width * 0.45
        left, top = width * (0.50 - 0.06 * t), height - span / aspect - height * 0.05
    box = (left, top, left + span, top + span / aspect)
    return picture.resize(size, Image.Resampling.LANCZOS, box=box)


# -- ours, in a subprocess ------------------------------------------------------------------


def _in_subprocess(settings: BenchSettings, clip: Path, out: Path) -> dict[str, Any]:
    job = {
        "clip": str(clip),
        "style": str(settings.style),
        "out": str(out),
        "size": settings.clip_size,
        "iterations": settings.clip_iterations,
        "weights": settings.weights,
    }
    code = "import sys; from timelapse_nst.bench.clip import clip_child; clip_child(sys.argv[1])"
    done = subprocess.run([sys.executable, "-c", code, json.dumps(job)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " ".join((done.stderr or "").strip().splitlines()[-1:])
        raise RuntimeError(f"the clip render failed: {tail or f'exit {done.returncode}'}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def clip_child(job_json: str) -> None:
    """Inside the subprocess: render the clip, timing its frames and its flow, and report."""
    from timelapse_nst.clip import flow

    job = json.loads(job_json)
    timer = _FrameTimer()
    flow.optical_flow = _timed(flow.optical_flow, timer)  # the render's own calls, counted as they run
    config = _config(job["size"], job["iterations"])
    started = time.perf_counter()
    render_job(job, job["clip"], config, hooks=[timer])
    timer.finish()
    report = {
        "render_seconds": time.perf_counter() - started,
        "frame_seconds": timer.durations(),
        "flow_seconds": timer.flow_seconds,
        "rss_mb": {"frame_10": timer.rss_at_frame_10 or peak_self_mb(), "last": peak_self_mb()},
        "later_iterations": config.clip.later_iterations(config.optimizer.iterations),
    }
    print(json.dumps(report))


class _FrameTimer:
    """A hook: a clip's frames each count iterations from 0, so a step with a lower iteration than
    the last one begins the next frame. Records when each frame began and the peak RSS after frame
    RSS_FRAME; the flow wrapper adds the flow's seconds."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ended: float | None = None
        self.last_iteration: int | None = None
        self.flow_seconds = 0.0
        self.rss_at_frame_10: float | None = None

    def __call__(self, step: Any) -> None:
        if self.last_iteration is None or step.iteration < self.last_iteration:
            self.starts.append(time.perf_counter())
            if len(self.starts) == RSS_FRAME + 2:  # frame 10 is painted: the next one begins
                self.rss_at_frame_10 = peak_self_mb()
        self.last_iteration = step.iteration

    def finish(self) -> None:
        self.ended = time.perf_counter()

    def durations(self) -> list[float]:
        """Seconds of each frame: from its first step to the next frame's (the flow for the next
        frame, computed before its first step, is counted in this one)."""
        ends = [*self.starts[1:], self.ended or time.perf_counter()]
        return [end - start for start, end in zip(self.starts, ends, strict=True)]


def _timed(function: Any, timer: _FrameTimer) -> Any:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            timer.flow_seconds += time.perf_counter() - started

    return timed


def _config(size: int, iterations: int, **extra: Any) -> Any:
    """The bench's default render (the classic preset) at ``size``, frame 0 with ``iterations``;
    the later frames get the clip settings' default."""
    settings = BenchSettings(iterations=iterations)
    return bench_config(settings, size, **extra)


# -- independent frames ---------------------------------------------------------------------


def _paint_each(settings: BenchSettings, sources: Sequence[Path], work: Path) -> tuple[list[Path], list[float]]:
    """Every input frame painted as a still with the same preset; their final.png and seconds."""
    from timelapse_nst import api

    # No checkpoints: they do not change the pixels, and a user painting frames one by one would not wait for them.
    config = _config(
        settings.clip_size, settings.clip_iterations, checkpoint={"every_iterations": 1_000_000, "every_seconds": None}
    )
    finals, seconds = [], []
    for index, source in enumerate(sources):
        out = work / f"{index:06d}"
        started = time.perf_counter()
        api.render(source, settings.style, out=out, config=config, weights=settings.weights, make_video=False)
        seconds.append(time.perf_counter() - started)
        finals.append(out / "final.png")
    return finals, seconds


# -- scoring --------------------------------------------------------------------------------


def _score(settings: BenchSettings, run: Path, independent: Sequence[Path], ours: dict[str, Any]) -> ClipStudy:
    """The figures, from the two sets of saved frames and what the subprocess measured."""
    import numpy as np

    from timelapse_nst.images import load_image
    from timelapse_nst.runfolder.clip import clip_record, read_clip_log
    from timelapse_nst.runfolder.folder import RunFolder

    folder = RunFolder(run)
    record = clip_record(folder.read_manifest())
    assert record is not None
    inputs = [np.asarray(load_image(folder.source_frame(i))) for i in range(record.frames)]
    painted = [np.asarray(load_image(folder.stylised_frame(i))) for i in range(record.frames)]
    alone = [np.asarray(load_image(path)) for path in independent]
    cut = cut_frame(record.frames)
    config = _config(settings.clip_size, settings.clip_iterations)
    objective = _FrameObjective(settings, config)
    ratios = [
        objective(ours_frame, frame) / objective(own, frame)
        for ours_frame, own, frame in zip(painted, alone, inputs, strict=True)
    ]
    return ClipStudy(
        width=record.size[0],
        height=record.size[1],
        frames=record.frames,
        cut=cut,
        first_iterations=config.optimizer.iterations,
        later_iterations=ours["later_iterations"],
        starts=[frame.start for frame in read_clip_log(folder.clip_log)],
        warping_ours=warping(painted, inputs, cut),
        warping_independent=warping(alone, inputs, cut),
        objective_ratios=ratios,
        frame_seconds=ours["frame_seconds"],
        independent_seconds=[],
        flow_seconds=ours["flow_seconds"],
        render_seconds=ours["render_seconds"],
        rss_mb=ours["rss_mb"],
    )


def warping(painted: Sequence[np.ndarray], inputs: Sequence[np.ndarray], cut: int) -> float:
    """Lai et al.'s warping error over the pairs within a shot (the pair across the cut left out)."""
    from timelapse_nst.clip.warping_error import warping_error

    shots = [(0, cut), (cut, len(painted))]
    errors, pairs = 0.0, 0
    for first, end in shots:
        if end - first >= 2:
            errors += warping_error(painted[first:end], inputs[first:end]) * (end - first - 1)
            pairs += end - first - 1
    return errors / pairs if pairs else math.nan


class _FrameObjective:
    """The seed's objective (exact TV, the preset's weights) of a saved frame against its own input
    frame, in fp32: the style's targets computed once, the content's per frame."""

    def __init__(self, settings: BenchSettings, config: Any) -> None:
        from timelapse_nst.engine.features import VGGFeatures
        from timelapse_nst.engine.objective import Scheduled
        from timelapse_nst.engine.weights import load_vgg19_features

        vgg = load_vgg19_features(settings.weights, seed=config.seed)
        self.features = VGGFeatures(vgg, [*config.layers.content, *config.layers.style], pooling=config.pooling)
        self.config, self.settings = config, settings
        self.weights = Scheduled(
            *(float(getattr(config.loss_weights, name).at(0, 1)) for name in ("content", "style", "tv"))
        )

    def __call__(self, image: np.ndarray, content: np.ndarray) -> float:
        import torch
        from PIL import Image

        from timelapse_nst.engine.objective import Objective
        from timelapse_nst.engine.tensors import to_tensor
        from timelapse_nst.images import load_image, resize_style

        style = resize_style(
            load_image(self.settings.style), (content.shape[1], content.shape[0]), self.config.style_scale
        )
        objective = Objective(
            self.features, self.config.layers, to_tensor(Image.fromarray(content)), [to_tensor(style)]
        )
        with torch.inference_mode():
            total, _ = objective(to_tensor(Image.fromarray(image)).float(), self.weights)
        return float(total)


# -- the report's lines ---------------------------------------------------------------------


def clip_targets(study: ClipStudy | None) -> list[tuple[str, str, str, bool | None]]:
    """The issue's goals (a)-(e): (what, measured, goal, met)."""
    if study is None:
        return []
    rows = [
        (
            "clip: warping error, ours / each frame painted alone",
            f"{study.warping_ratio:.2f}",
            f"<= {TARGET_WARPING}",
            study.warping_ratio <= TARGET_WARPING,
        ),
        (
            "clip: each frame's objective / the frame painted alone (worst frame)",
            f"{study.worst_objective:.3f}",
            f"<= {TARGET_OBJECTIVE:.2f}",
            study.worst_objective <= TARGET_OBJECTIVE,
        ),
        (
            "clip: seconds per later frame / the first frame's",
            f"{study.later_over_first:.2f}",
            f"<= {TARGET_LATER_FRAME}",
            study.later_over_first <= TARGET_LATER_FRAME,
        ),
        (
            "clip: the optical flow's share of the time",
            f"{study.flow_share:.1%}",
            f"<= {TARGET_FLOW_SHARE:.0%}",
            study.flow_share <= TARGET_FLOW_SHARE,
        ),
    ]
    if study.frames > RSS_FRAME + 1:
        growth = study.rss_growth
        rows.append(
            (
                f"clip: peak RSS at the last frame / at frame {RSS_FRAME}",
                f"{growth:+.1%}",
                f"within {TARGET_RSS_GROWTH:.0%}",
                abs(growth) <= TARGET_RSS_GROWTH,
            )
        )
    return rows


def clip_lines(study: ClipStudy | None) -> list[tuple[str, str]]:
    """The clip study's details for the report."""
    if study is None:
        return []
    starts = ", ".join(f"{kind} {study.starts.count(kind)}" for kind in dict.fromkeys(study.starts))
    later = statistics.median(study.frame_seconds[1:])
    return [
        (
            f"clip: {study.frames} frames of {study.width}x{study.height}, a scene cut at frame {study.cut}",
            f"frame 0 {study.first_iterations} iterations, later frames {study.later_iterations}; frames began: "
            f"{starts} (frame {study.cut}: {study.starts[study.cut] if len(study.starts) > study.cut else '?'})",
        ),
        (
            "clip: warping error, ours / painted alone",
            f"{study.warping_ours:.5f} / {study.warping_independent:.5f} = {study.warping_ratio:.2f}",
        ),
        (
            "clip: objective / painted alone, per frame",
            f"mean {statistics.fmean(study.objective_ratios):.3f}, worst {study.worst_objective:.3f} "
            f"(frame {study.objective_ratios.index(study.worst_objective)})",
        ),
        (
            "clip: seconds, frame 0 / later frames (median) / a frame painted alone (median)",
            f"{study.frame_seconds[0]:.1f} / {later:.1f} / {statistics.median(study.independent_seconds or [math.nan]):.1f}",
        ),
        ("clip: optical flow", f"{study.flow_seconds:.2f} s of {study.render_seconds:.1f} s ({study.flow_share:.1%})"),
        (
            f"clip: peak RSS at frame {RSS_FRAME} / at the last frame",
            f"{study.rss_mb['frame_10']:.0f} MB / {study.rss_mb['last']:.0f} MB",
        ),
    ]
