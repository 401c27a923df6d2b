"""One render, new or continued, from its run folder: the steps after the inputs were checked.

``api.render`` and ``api.resume`` decide *whether* to paint; a ``RenderSession`` paints:
restore determinism, build the objective of each scale, wire the hooks, run the loop (stopping
cleanly on a signal), write final.png. The video is the api's next step (assembly is a floor above).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from timelapse_nst.engine.determinism import deterministic_torch
from timelapse_nst.engine.devices import pick_device, precision_name, recorded_activation_dtype
from timelapse_nst.engine.features import VGGFeatures
from timelapse_nst.engine.geometry import tile_overlap
from timelapse_nst.engine.loop import Hook, RenderInterrupted, Step, paint
from timelapse_nst.engine.objective import Objective
from timelapse_nst.engine.tensors import to_tensor, to_uint8, to_uint16
from timelapse_nst.engine.tiling import TiledObjective
from timelapse_nst.errors import UserError, write_errors
from timelapse_nst.images import load_image, png_format, resize_long_edge, resize_style, save_png, srgb_profile
from timelapse_nst.rendering.capture import CaptureHook, FrameWriter
from timelapse_nst.rendering.checkpoint import Checkpointer
from timelapse_nst.rendering.inputs import input_hashes, region_files
from timelapse_nst.rendering.interruption import Interrupted, StopRequest, stop_signals
from timelapse_nst.rendering.plan import is_out_of_memory, plan_render, recorded_tiling
from timelapse_nst.rendering.regions import RegionImages, guides_at, read_regions
from timelapse_nst.rendering.status import video_state
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.runfolder.log import LogWriter
from timelapse_nst.settings.config import RenderConfig
from timelapse_nst.settings.scales import ScalePlan, describe_iterations, plan_scales, total_iterations

Notify = Callable[[str], None]
ProgressFactory = Callable[[int, int], Any]


@dataclass(frozen=True)
class RenderResult:
    run: Path
    final: Path
    video: Path | None
    iterations: int
    seconds: float
    published: tuple[Path, ...] = ()  # the publishing kit, when asked for (`publish=True`)


@contextmanager
def painting_stops(
    run: RunFolder, stop: StopRequest, where: Callable[[int], str], out_of_memory: Callable[[], str]
) -> Iterator[None]:
    """Around the optimiser: its stop at a signal becomes ``Interrupted`` (``where(iteration)`` it
    stopped, the checkpoint saved, how to resume); a device out of memory, ``out_of_memory()``'s line."""
    try:
        yield
    except RenderInterrupted as interrupted:
        raise Interrupted(
            f"stopped {where(interrupted.iteration)} (checkpoint saved); resume with: timelapse-nst resume {run.root}",
            signum=stop.signum,
        ) from None
    except (torch.OutOfMemoryError, RuntimeError) as error:
        if not is_out_of_memory(error):
            raise
        raise UserError(out_of_memory()) from None


class Session:
    """What a still render and a clip share: the run folder (manifest written, folder locked), its
    configuration, the network, the hooks and where notes go; ``execute`` paints under
    deterministic torch, the caller's torch state put back afterwards."""

    def __init__(
        self,
        run: RunFolder,
        config: RenderConfig,
        vgg: torch.nn.Sequential,
        *,
        hooks: Sequence[Hook] = (),
        notify: Notify = lambda message: None,
        progress_factory: ProgressFactory | None = None,
    ) -> None:
        self.run, self.config, self.vgg = run, config, vgg
        self.hooks, self.notify, self.progress_factory = hooks, notify, progress_factory
        self.manifest = run.read_manifest()
        self.started = time.monotonic()
        self._begin()

    def _begin(self) -> None:
        """The kind's own state, read from the run folder (after the shared state above)."""

    def execute(self, state: dict[str, Any] | None) -> bool:
        """Paint from ``state`` (the last checkpoint, or None for a fresh start); True when the
        render was already complete and its video is up to date (nothing left to make)."""
        with deterministic_torch():  # and afterwards a notebook's own RNG and threads as they were
            return self._execute(state)

    def _execute(self, state: dict[str, Any] | None) -> bool:
        raise NotImplementedError


class RenderSession(Session):
    """Paints the still render held by ``run``."""

    def _begin(self) -> None:
        self.total = total_iterations(self.config)
        self.tiled: list[bool] = []  # per scale, from the memory plan (set with the objective factory)

    def _execute(self, state: dict[str, Any] | None) -> bool:
        if state is not None and state.get("complete") and self.run.final.exists():
            self.notify(f"{self.run.root}: the render is already complete")
            if png_format(self.run.final) != (self.config.final.bit_depth, self.config.final.icc_profile):
                self.save_final(state["image"])  # `final:` changed since: the same painting, written anew
            if video_state(self.run) == "up to date":
                self.notify(f"video: {self.run.video} (up to date)")
                return True
            return False
        self._restore_determinism(state)
        self._paint(state)
        return False

    # -- 1. determinism: same threads and RNG as before an interruption ------------------------
    def _restore_determinism(self, state: dict[str, Any] | None) -> None:
        if state is not None:
            torch.set_num_threads(int(state["threads"]))
            torch.set_rng_state(state["rng"]["torch"])
        else:
            torch.manual_seed(self.config.seed)

    # -- 2. the objective of each scale ---------------------------------------------------------
    def _objective_factory(self, device: torch.device, dtype: torch.dtype | None) -> Callable[[ScalePlan], Objective]:
        config = self.config
        content, styles = self.run.input_files(self.manifest)
        content_image = load_image(content.path)  # type: ignore[arg-type]  # verified by the caller
        style_images = [load_image(style.path) for style in styles]  # type: ignore[arg-type]
        regions = read_regions(config, region_files(self.run, self.manifest), len(styles))
        # The scales the memory plan tiles (auto's choice as render.yaml recorded it).
        memory = plan_render(
            config, content_image.size, [s.size for s in style_images], decided=recorded_tiling(self.manifest)
        )
        self.tiled = [scale.tiled for scale in memory.scales]
        features = network_features(config, self.vgg, device)
        return objectives(config, features, content_image, style_images, self.tiled, dtype, regions=regions)

    # -- 3. hooks and the loop ---------------------------------------------------------------------
    def _paint(self, state: dict[str, Any] | None) -> None:
        device = pick_device(self.config.device)
        dtype = recorded_activation_dtype(self.manifest, self.config.precision, device)
        make_objective = self._objective_factory(device, dtype)
        done = int(state["iteration"]) if state else 0
        capture = self.config.capture
        with FrameWriter(self.run, compress_level=capture.compress_level, max_size=self.config.frame_edge()) as writer:
            log = LogWriter(self.run.log, resume_at_bytes=int(state["log"]["bytes"]) if state else 0)
            saver = Checkpointer(
                self.run,
                self.config,
                writer,
                log,
                self.total,
                elapsed=float(state["elapsed"]) if state else 0.0,
                inputs=input_hashes(self.run, self.manifest),
                last_state=state,
            )
            progress = self.progress_factory(self.total, done) if self.progress_factory else None
            hooks = [CaptureHook(writer, self.config.capture), log_hook(log), *self.hooks]
            hooks += [progress] if progress is not None else []
            continuing = f", continuing after iteration {done}" if state else ""
            self.notify(
                f"rendering {describe_iterations(self.config)} on {device.type} ({precision_name(dtype)}){continuing}"
                + self._tiling_note()
            )
            try:
                with (
                    stop_signals() as stop,
                    write_errors(self.run.root),
                    painting_stops(
                        self.run,
                        stop,
                        lambda iteration: f"after iteration {iteration} of {self.total}",
                        lambda: self._out_of_memory(device, saver),
                    ),
                ):
                    image = paint(
                        self.config,
                        make_objective,
                        None if state is None else state["image"].to(device),
                        init=self._init_image(device) if state is None else None,
                        hooks=hooks,
                        after_step=saver,
                        should_stop=stop.is_set,
                        scale=int(state["scale"]) if state else 0,
                        iteration=done,
                        optimizer_state=state["optimizer"] if state else None,
                        measured=state.get("measured") if state else None,
                    )
                    self.save_final(image)
                    saver.mark_complete()
            finally:
                if progress is not None and hasattr(progress, "close"):
                    progress.close()
                log.close()

    def _init_image(self, device: torch.device) -> torch.Tensor | None:
        """``init: PATH``: its copy in the run folder, resized (Lanczos) to the photo at the first
        scale, as the photo itself is; None when the render starts from the photo, a painting or noise."""
        entry = self.run.init_file(self.manifest)
        if entry is None:
            return None
        content, _ = self.run.input_files(self.manifest)
        first = resize_long_edge(load_image(content.path), plan_scales(self.config)[0].size)  # type: ignore[arg-type]
        picture = load_image(entry.path).resize(first.size, Image.Resampling.LANCZOS)  # type: ignore[arg-type]
        return to_tensor(picture).to(device)

    def save_final(self, image: torch.Tensor) -> None:
        save_final(self.run, self.config, image)

    def _tiling_note(self) -> str:
        tiled = [index + 1 for index, flag in enumerate(self.tiled) if flag]
        if not tiled:
            return ""
        which = "every scale" if len(tiled) == len(self.tiled) else f"scale {', '.join(map(str, tiled))}"
        return f"; {which} in tiles of {self.config.tiling.tile} px"

    def _out_of_memory(self, device: torch.device, saver: Checkpointer) -> str:
        """What to say when the device ran out of memory: the checkpoint is intact, how to go on."""
        last = saver.last_state["iteration"] if saver.last_state is not None else None
        kept = f"the last checkpoint (iteration {last}) is intact" if last is not None else "no checkpoint was made yet"
        tiling = self.config.tiling
        if all(self.tiled) or tiling.mode == "on":
            smaller = max(16, tiling.tile // 2)
            how = f"--set tiling.tile={smaller}"
        else:
            how = "--set tiling.mode=on"
        return (
            f"the {device.type} ran out of memory; {kept}: continue with smaller pieces of work: "
            f"timelapse-nst resume {self.run.root} {how}"
        )

    def result(self, video: Path | None) -> RenderResult:
        return RenderResult(self.run.root, self.run.final, video, self.total, time.monotonic() - self.started)


def network_features(config: RenderConfig, vgg: torch.nn.Sequential, device: torch.device) -> VGGFeatures:
    """VGG19 cut after the deepest layer the config uses, on ``device``."""
    features = VGGFeatures(vgg, [*config.layers.content, *config.layers.style], pooling=config.pooling)
    features = features.to(device)
    if device.type in ("cpu", "cuda"):
        features = features.to(memory_format=torch.channels_last)  # faster convolutions
    return features


def objectives(
    config: RenderConfig,
    features: VGGFeatures,
    content_image: Image.Image,
    style_images: Sequence[Image.Image],
    tiled: Sequence[bool],
    dtype: torch.dtype | None,
    *,
    regions: RegionImages | None = None,
) -> Callable[[ScalePlan], Objective]:
    """The objective of each scale: ``content_image`` and the paintings at the scale's size,
    evaluated tile by tile where ``tiled`` (one flag per scale, from the memory plan) says, each
    painting within its region where ``regions`` (masks, a colour map, a keep mask, a reveal) say."""
    device = features.mean.device

    def make(plan: ScalePlan) -> Objective:
        scaled = resize_long_edge(content_image, plan.size)
        paintings = [to_tensor(resize_style(s, scaled.size, config.style_scale)).to(device) for s in style_images]
        photo = to_tensor(scaled).to(device)
        args = (features, config.layers, photo, paintings)
        options: dict[str, Any] = {
            "activation_dtype": dtype,
            "color": config.color.preserve,
            "tv_smoothing": config.optimizer.tv_smoothing,
            "guides": guides_at(config, regions, len(paintings), scaled.size, device=device),
        }
        if tiled[plan.index]:
            tiling = {"tile": config.tiling.tile, "overlap": tile_overlap(config.tiling, config.layers.deepest())}
            return TiledObjective(*args, **options, **tiling)
        return Objective(*args, **options)

    return make


def save_final(run: RunFolder, config: RenderConfig, image: torch.Tensor) -> None:
    """final.png as `final:` asks: 8 or 16 bits per channel, with or without the sRGB profile."""
    final = config.final
    pixels = to_uint16(image) if final.bit_depth == 16 else to_uint8(image)
    save_png(pixels, run.final, icc_profile=srgb_profile() if final.icc_profile else None)


def log_hook(log: LogWriter) -> Hook:
    """Writes log.jsonl's line of every iteration after the starting image."""

    def write(step: Step) -> None:
        if step.iteration > 0:
            record = {
                "iteration": step.iteration,
                "scale": step.scale,
                "losses": dict(step.losses),
                "losses_of": step.losses_of,
            }
            record.update(loss_weights=dict(step.loss_weights), lr=step.learning_rate)
            if len(step.blend) > 1:  # several styles: each one's share of the style loss
                record["blend"] = list(step.blend)
            if step.color is not None:
                record["color"] = step.color
            log.write(record)

    return write
