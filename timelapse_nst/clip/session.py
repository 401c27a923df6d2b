"""One clip render from its run folder: the frames painted in order, each one resumable.

Frame 0 is painted as a still render is (its frames/, log.jsonl and final.png are the timelapse
of the clip's opening). Each later frame starts from the previous painted frame carried along the
optical flow between the input frames, the pixels the flow does not explain taken from its own
photo, and a temporal loss holds it to the earlier painted frame(s) where the flow is consistent
(Ruder et al. 2016). A frame whose flow check collapses (a scene cut) starts fresh instead.

Everything a frame starts from is read back from the run folder (the input frames in source/, the
painted ones in stylised/, as 8-bit PNGs): a frame painted after a resume starts from the very
bytes it would have started from, and checkpoints within a frame carry the rest, so a render
killed at any moment and resumed paints every frame byte for byte as an uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from PIL import Image

from timelapse_nst.clip.flow import Motion, motion, warp
from timelapse_nst.clip.frame_config import frame_config
from timelapse_nst.engine.devices import pick_device, precision_name, recorded_activation_dtype
from timelapse_nst.engine.loop import Hook, Step, paint
from timelapse_nst.engine.objective import Objective
from timelapse_nst.engine.temporal import TemporalObjective, long_term_weights, temporal_loss
from timelapse_nst.engine.tensors import to_uint8
from timelapse_nst.errors import UserError, write_errors
from timelapse_nst.images import load_image, save_png
from timelapse_nst.rendering.capture import CaptureHook, FrameWriter
from timelapse_nst.rendering.checkpoint import Checkpointer
from timelapse_nst.rendering.inputs import input_hashes
from timelapse_nst.rendering.interruption import Interrupted, StopRequest, stop_signals
from timelapse_nst.rendering.plan import plan_render, recorded_tiling
from timelapse_nst.rendering.session import (
    RenderResult,
    Session,
    log_hook,
    network_features,
    objectives,
    painting_stops,
    save_final,
)
from timelapse_nst.rendering.status import video_state
from timelapse_nst.runfolder.clip import ClipFrame, ClipLogWriter, ClipRecord, clip_record, read_clip_log
from timelapse_nst.runfolder.log import LogWriter
from timelapse_nst.settings.config import RenderConfig
from timelapse_nst.settings.scales import ScalePlan, total_iterations


@dataclass(frozen=True)
class FrameStart:
    """How a frame begins: fresh (frame 0, a cut) or warped, with what holds it to earlier frames."""

    kind: str  # "fresh", "cut" or "warped" (clip.jsonl's "start")
    consistency: float | None = None  # the flow check against the previous frame (None for frame 0)
    image: torch.Tensor | None = None  # warped: where painting starts, (1, 3, H, W) 0..255
    anchors: torch.Tensor | None = None  # warped: the earlier painted frames carried here, (K, 3, H, W)
    weights: torch.Tensor | None = None  # warped: the temporal loss's weight per pixel, (K, 1, H, W)

    @property
    def fresh(self) -> bool:
        return self.kind != "warped"


class ClipSession(Session):
    """Paints the clip render held by ``run`` (its source/ decoded), frame by frame."""

    def _begin(self) -> None:
        record = clip_record(self.manifest)
        if record is None:
            raise UserError(f"{self.run.root} holds a still render, not a clip")
        self.record: ClipRecord = record
        self.elapsed_before = 0.0
        self.finished: list[ClipFrame] = []
        self.progress: Any = None

    @property
    def frames(self) -> int:
        return self.record.frames

    def _execute(self, state: dict[str, Any] | None) -> bool:
        done = self._finished_frames()
        if done == self.frames:
            self.notify(f"{self.run.root}: all {self.frames} frames are painted")
            return video_state(self.run) == "up to date"
        if state is not None:
            torch.set_num_threads(int(state["threads"]))  # the thread count decides float rounding
            self.elapsed_before = float(state.get("elapsed", 0.0))
        state = state if state is not None and state.get("frame") == done else None
        self._prepare()
        continuing = f", continuing frame {done + 1}" + (f" after iteration {state['iteration']}" if state else "")
        tiles = f"; in tiles of {self.config.tiling.tile} px" if any(self.tiled) else ""
        self.notify(
            f"painting {self.frames} frames at {self.record.size[0]}x{self.record.size[1]} on {self.device.type} "
            f"({precision_name(self.dtype)}){continuing if done or state else ''}{tiles}"
        )
        self.progress = self._open_progress(state)
        try:
            with stop_signals() as stop, write_errors(self.run.root):
                log = ClipLogWriter(self.run.clip_log, keep=done)
                for index in range(done, self.frames):
                    self._paint_frame(index, state if index == done else None, stop, log)
                    self._stop_between_frames(index, stop)
        finally:
            if self.progress is not None and hasattr(self.progress, "close"):
                self.progress.close()
        return False

    def result(self, video: Any) -> RenderResult:
        iterations = sum(frame.iterations for frame in self.finished)
        return RenderResult(self.run.root, self.run.final, video, iterations, time.monotonic() - self.started)

    # -- 1. where the clip stands ---------------------------------------------------------------
    def _finished_frames(self) -> int:
        """Frames recorded in clip.jsonl whose painting is in stylised/ (a frame whose PNG went
        missing is painted again, and every frame after it)."""
        recorded = read_clip_log(self.run.clip_log)
        done = min(len(recorded), self.run.stylised_count(), self.frames)
        self.finished = recorded[:done]
        return done

    def _prepare(self) -> None:
        """The device, the network, the paintings and which scales are tiled: once per session."""
        config = self.config
        self.device = pick_device(config.device)
        self.dtype = recorded_activation_dtype(self.manifest, config.precision, self.device)
        _, styles = self.run.input_files(self.manifest)
        self.paintings = [load_image(style.path) for style in styles]  # type: ignore[arg-type]  # verified
        sizes = [painting.size for painting in self.paintings]
        memory = plan_render(config, self.record.size, sizes, decided=recorded_tiling(self.manifest))
        self.tiled = [scale.tiled for scale in memory.scales]
        self.features = network_features(config, self.vgg, self.device)
        self.run.stylised.mkdir(exist_ok=True)

    # -- 2. one frame ----------------------------------------------------------------------------
    def _paint_frame(self, index: int, state: dict[str, Any] | None, stop: StopRequest, log: ClipLogWriter) -> None:
        # 1. What the frame starts from, and the configuration it is painted with.
        photo = load_image(self.run.source_frame(index))
        start = self._start(index, np.asarray(photo))
        config = frame_config(self.config, index, self.frames, fresh=start.fresh)
        make = self._objectives(config, photo, start)
        # 2. Paint it (checkpoints within it, as a still render's).
        if state is None:
            torch.manual_seed(self.config.seed)  # what a resumed frame restores from its checkpoint
        else:
            torch.set_rng_state(state["rng"]["torch"])
        image, losses, blend = self._run(index, config, make, start, state, stop)
        # 3. Keep it: stylised/ first, then its line in clip.jsonl (what a resume counts).
        pixels = to_uint8(image)
        save_png(pixels, self.run.stylised_frame(index))
        if index == 0:
            save_final(self.run, self.config, image)
        temporal = None
        if start.anchors is not None and start.weights is not None:
            saved = torch.from_numpy(pixels.astype(np.float32)).permute(2, 0, 1).unsqueeze(0)
            temporal = float(temporal_loss(saved, start.anchors.cpu(), start.weights.cpu()))
        frame = ClipFrame(index, start.kind, total_iterations(config), losses, temporal, start.consistency, blend)
        log.append(frame)
        self.finished.append(frame)

    def _start(self, index: int, photo: np.ndarray) -> FrameStart:
        """Frame 0 starts fresh; a later frame from the previous painted one carried along the
        flow, unless the flow check collapses (a scene cut: fresh again, nothing carried over)."""
        if index == 0:
            return FrameStart("fresh")
        clip = self.config.clip
        previous = motion(photo, self._source(index - 1), clip.flow)
        if previous.consistency < clip.scene_cut or clip.scene_cut >= 1:
            return FrameStart("cut", previous.consistency)
        shot = max((frame.frame for frame in self.finished if frame.start != "warped"), default=0)
        anchors, checks = [], []
        for back in clip.earlier_frames:
            if index - back < shot:
                break  # nothing before the shot began
            seen = previous if back == 1 else motion(photo, self._source(index - back), clip.flow)
            anchors.append(warp(self._painted(index - back), seen.flow))
            checks.append(seen.reliable)
        weights = long_term_weights(torch.from_numpy(np.stack(checks))[:, None])
        weights[0] *= 1 + (clip.still_weight - 1) * torch.from_numpy(previous.still.astype(np.float32))
        return FrameStart(
            "warped",
            previous.consistency,
            image=_tensor(_carried(anchors[0], photo, previous)),
            anchors=torch.cat([_tensor(anchor) for anchor in anchors]).to(self.device),
            weights=weights.to(self.device),
        )

    def _objectives(self, config: RenderConfig, photo: Image.Image, start: FrameStart) -> Callable[[ScalePlan], Any]:
        """The frame's objective at each scale; a warped frame's with the temporal term."""
        make = objectives(config, self.features, photo, self.paintings, self.tiled, self.dtype)
        if start.fresh:
            return make
        weight = self.config.clip.temporal_weight

        def with_temporal(plan: ScalePlan) -> Objective:
            return TemporalObjective(make(plan), start.anchors, start.weights, weight)  # type: ignore[return-value]

        return with_temporal

    def _run(
        self,
        index: int,
        config: RenderConfig,
        make: Callable[[ScalePlan], Objective],
        start: FrameStart,
        state: dict[str, Any] | None,
        stop: StopRequest,
    ) -> tuple[torch.Tensor, dict[str, float], tuple[float, ...]]:
        """The frame painted (from ``state`` where given): its picture, its own objective and the
        paintings' shares at its last iteration."""
        total = total_iterations(config)
        capture = self.config.capture
        last: list[Step] = []  # the frame's last step: its own objective, as measured

        def remember(step: Step) -> None:
            if step.losses:
                last[:] = [step]

        with FrameWriter(self.run, compress_level=capture.compress_level, max_size=self.config.frame_edge()) as writer:
            kept_log = int(state["log"]["bytes"]) if state else (self.run.log.stat().st_size if index else 0)
            log = LogWriter(self.run.log, resume_at_bytes=kept_log)  # frame 0's iterations only
            saver = Checkpointer(
                self.run,
                self.config,
                writer,
                log,
                total,
                elapsed=self.elapsed_before + time.monotonic() - self.started,
                inputs=input_hashes(self.run, self.manifest),
                last_state=state,
                record={"frame": index, "frames": self.frames, "start": start.kind},
            )
            hooks: list[Hook] = [*self.hooks, remember]
            if index == 0:  # frame 0's painting is the timelapse: captured as a still render's
                hooks = [CaptureHook(writer, capture), log_hook(log), *hooks]
            hooks += self._progress_hooks(index, total)
            out_of_memory = (
                f"the {self.device.type} ran out of memory in frame {index + 1}; the last checkpoint is intact: "
                f"continue in tiles: timelapse-nst resume {self.run.root} --set tiling.mode=on"
            )
            try:
                with painting_stops(
                    self.run,
                    stop,
                    lambda iteration: f"in frame {index + 1} of {self.frames} after iteration {iteration} of {total}",
                    lambda: out_of_memory,
                ):
                    begin = state["image"] if state is not None else start.image  # None: fresh, from config.init
                    image = paint(
                        config,
                        make,
                        None if begin is None else begin.to(self.device),
                        hooks=hooks,
                        after_step=saver,
                        should_stop=stop.is_set,
                        scale=int(state["scale"]) if state else 0,
                        iteration=int(state["iteration"]) if state else 0,
                        optimizer_state=state["optimizer"] if state else None,
                        measured=state.get("measured") if state else None,
                    )
                    if index == self.frames - 1:
                        saver.mark_complete()
            finally:
                log.close()
        losses = dict(last[0].losses) if last else dict(state["losses"] if state else {})
        blend = last[0].blend if last else config.blend_at(total - 1, total, len(self.paintings))
        return image, {name: float(value) for name, value in losses.items()}, tuple(blend)

    def _stop_between_frames(self, index: int, stop: StopRequest) -> None:
        if stop.is_set() and index + 1 < self.frames:
            raise Interrupted(
                f"stopped after frame {index + 1} of {self.frames}; resume with: timelapse-nst resume {self.run.root}",
                signum=stop.signum,
            )

    # -- 3. progress: the clip's iterations, frame by frame ---------------------------------------
    def _estimate(self) -> int:
        """The clip's iterations as now known: the finished frames' and the rest as later frames."""
        later = self.config.clip.later_iterations(self.config.optimizer.iterations)
        first = total_iterations(self.config)
        left = self.frames - len(self.finished)
        done = sum(frame.iterations for frame in self.finished)
        return done + (first + (left - 1) * later if not self.finished else left * later)

    def _open_progress(self, state: dict[str, Any] | None) -> Any:
        if self.progress_factory is None:
            return None
        done = sum(frame.iterations for frame in self.finished) + (int(state["iteration"]) if state else 0)
        return self.progress_factory(self._estimate(), done)

    def _progress_hooks(self, index: int, total: int) -> list[Hook]:
        """The progress bar sees the clip's iterations so far, and which frame is painted."""
        progress = self.progress
        if progress is None:
            return []
        before = sum(frame.iterations for frame in self.finished)
        clip_total = (
            before
            + total
            + (self.frames - index - 1) * self.config.clip.later_iterations(self.config.optimizer.iterations)
        )
        if hasattr(progress, "frame"):
            progress.frame(f"painting frame {index + 1}/{self.frames}", clip_total)

        def report(step: Step) -> None:
            if step.iteration > 0:
                progress(replace(step, iteration=before + step.iteration, total=clip_total))

        return [report]

    # -- reading the run folder ----------------------------------------------------------------------
    def _source(self, index: int) -> np.ndarray:
        return np.asarray(load_image(self.run.source_frame(index)))

    def _painted(self, index: int) -> np.ndarray:
        return np.asarray(load_image(self.run.stylised_frame(index)))


def _carried(warped: np.ndarray, photo: np.ndarray, seen: Motion) -> np.ndarray:
    """Where a warped frame starts: the earlier painting where the flow saw the pixel, its own
    photo where it did not (a pixel coming into view, or out of an occlusion)."""
    return np.where(seen.seen[..., None], warped, photo.astype(np.float32))


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H, W, 3) 0..255 → (1, 3, H, W) float32."""
    return torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)
