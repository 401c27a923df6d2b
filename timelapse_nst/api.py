"""The Python API: ``render()`` and ``resume()``. The only module that sees every stage.

from timelapse_nst import render
result = render("photo.jpg", "painting.jpg", preset="quick-preview", out="runs/cat")
print(result.video)
"""

from __future__ import annotations

import errno
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from timelapse_nst import __version__, checkpoint, presets
from timelapse_nst.capture import CaptureHook, FrameWriter
from timelapse_nst.checkpoint import Checkpointer
from timelapse_nst.config import VGG19_LAYERS, RenderConfig
from timelapse_nst.devices import autocast_dtype, pick_device, precision_name
from timelapse_nst.errors import UserError
from timelapse_nst.features import VGGFeatures
from timelapse_nst.images import file_sha256, load_image, resize_long_edge, resize_style, save_png, to_tensor, to_uint8
from timelapse_nst.objective import Objective
from timelapse_nst.optimize import Hook, RenderInterrupted, ScalePlan, Step, paint, plan_scales
from timelapse_nst.run import LogWriter, RunFolder
from timelapse_nst.status import video_state
from timelapse_nst.weights import RANDOM_WEIGHTS_WARNING, load_vgg19_features

Notify = Callable[[str], None]


class Interrupted(UserError):
    """The render stopped on request after saving a checkpoint (exit code 130)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=130)


@dataclass(frozen=True)
class RenderResult:
    run: Path
    final: Path
    video: Path | None
    iterations: int
    seconds: float


# -- public entry points -------------------------------------------------------------------


def render(
    content: str | Path,
    style: str | Path,
    *,
    out: str | Path,
    preset: str | Path | None = None,
    overrides: Sequence[str] = (),
    config: RenderConfig | None = None,
    weights: str = "torchvision",
    hooks: Sequence[Hook] = (),
    restart: bool = False,
    make_video: bool = True,
    notify: Notify = lambda message: None,
    progress_factory: Callable[[int, int], Any] | None = None,
) -> RenderResult:
    """Paint ``content`` in the style of ``style`` into the run folder ``out``.

    ``config`` wins over ``preset`` + ``overrides``. A folder that already holds this very
    render is continued; one that holds a different render is refused unless ``restart``,
    which moves it aside (never deletes it). ``hooks`` are called with every ``Step``.
    """
    # 1. Check every input before touching the disk.
    config = config or presets.resolve(preset, overrides=overrides)
    content, style = Path(content), Path(style)
    _check_sizes(config, load_image(content), load_image(style))
    source = _weights_source(weights)
    run = RunFolder(Path(out))
    manifest = _manifest(config, content, style, source)
    # 2. Decide: new render, continue the same one, or refuse.
    if restart and run.root.exists() and any(run.root.iterdir()):
        notify(f"moved the previous run to {run.move_aside()}")
    elif run.has_render():
        _check_same_render(run, manifest)
        notify(f"{run.root} already holds this render: continuing it")
        old = run.read_manifest()
        if old["config"] != manifest["config"]:  # only video/checkpoint settings can differ here
            run.write_manifest({**old, "config": manifest["config"]})
        return resume(run.root, hooks=hooks, make_video=make_video, notify=notify, progress_factory=progress_factory)
    elif run.root.exists() and any(run.root.iterdir()):
        raise UserError(f"{run.root} is not empty and holds no render; choose another --out")
    # 3. Lay out the run folder and paint.
    features = _load_features(source, config.seed, notify, progress=progress_factory is not None)
    with _locked(run, notify):
        manifest["inputs"]["content"]["file"] = run.copy_input("content", content)
        manifest["inputs"]["style"]["file"] = run.copy_input("style", style)
        run.frames.mkdir(parents=True, exist_ok=True)
        run.write_manifest(manifest)
        return _execute(run, config, features, None, hooks, make_video, notify, progress_factory)


def resume(
    run_dir: str | Path,
    *,
    hooks: Sequence[Hook] = (),
    make_video: bool = True,
    notify: Notify = lambda message: None,
    progress_factory: Callable[[int, int], Any] | None = None,
) -> RenderResult:
    """Continue an interrupted render from its run folder alone, exactly where it stopped."""
    run = RunFolder(Path(run_dir))
    manifest = run.read_manifest()
    config = presets.validate_file_data(manifest["config"], f"{run.manifest} config")
    for role in ("content", "style"):
        _check_input_copy(run, manifest, role)
    features = _load_features(
        manifest.get("weights", "torchvision"), config.seed, notify, progress=progress_factory is not None
    )
    with _locked(run, notify):
        removed = run.remove_partial_files()
        if removed:
            notify(f"removed {removed} partial file(s) left by the interrupted process")
        state, warnings = checkpoint.load(run.root)
        for warning in warnings:
            notify(warning)
        if state is not None and state.get("render_hash") != config.render_hash():
            raise UserError(
                f"the checkpoint in {run.root} belongs to another configuration; start over with `render … --restart`"
            )
        if state is not None and state.get("inputs", _input_hashes(manifest)) != _input_hashes(manifest):
            raise UserError(
                f"the checkpoint in {run.root} was made from other input images; start over with `render … --restart`"
            )
        return _execute(run, config, features, state, hooks, make_video, notify, progress_factory)


# -- the render itself ---------------------------------------------------------------------


def _execute(
    run: RunFolder,
    config: RenderConfig,
    vgg: torch.nn.Sequential,
    state: dict[str, Any] | None,
    hooks: Sequence[Hook],
    make_video: bool,
    notify: Notify,
    progress_factory: Callable[[int, int], Any] | None,
) -> RenderResult:
    started = time.monotonic()
    manifest = run.read_manifest()
    total = plan_scales(config)[-1].last
    if state is not None and state.get("complete") and run.final.exists():
        notify(f"{run.root}: the render is already complete")
        if video_state(run) == "up to date":
            notify(f"video: {run.video} (up to date)")
            return RenderResult(run.root, run.final, run.video, total, time.monotonic() - started)
        return _finish_video(run, total, started, make_video, notify, progress_factory)
    # 1. Devices and determinism: same threads and RNG as before an interruption.
    if state is not None:
        torch.set_num_threads(int(state["threads"]))
        torch.set_rng_state(state["rng"]["torch"])
    else:
        torch.manual_seed(config.seed)
    device = pick_device(config.device)
    dtype = autocast_dtype(config.precision, device)
    features = _features_on(vgg, config, device)
    content_image = load_image(run.root / manifest["inputs"]["content"]["file"])
    style_image = load_image(run.root / manifest["inputs"]["style"]["file"])

    def make_objective(plan: ScalePlan) -> Objective:
        content = resize_long_edge(content_image, plan.size)
        style = resize_style(style_image, content.size, config.style_scale)
        return Objective(
            features, config.layers, to_tensor(content).to(device), to_tensor(style).to(device), autocast_dtype=dtype
        )

    _check_sizes(config, content_image, style_image)
    # 2. Hooks: frames, log, progress, the caller's; checkpoints get their own callback.
    log_bytes = int(state["log"]["bytes"]) if state else 0
    with FrameWriter(run.frames, compress_level=config.capture.compress_level) as writer:
        log = LogWriter(run.log, resume_at_bytes=log_bytes)
        saver = Checkpointer(
            run,
            config,
            writer,
            log,
            total,
            elapsed=float(state["elapsed"]) if state else 0.0,
            inputs=_input_hashes(manifest),
            last_state=state,
        )
        all_hooks: list[Hook] = [CaptureHook(writer, config.capture), _log_hook(log), *hooks]
        progress = progress_factory(total, int(state["iteration"]) if state else 0) if progress_factory else None
        if progress is not None:
            all_hooks.append(progress)
        notify(
            f"rendering {total} iterations on {device.type} ({precision_name(dtype)})"
            + (f", continuing after iteration {state['iteration']}" if state else "")
        )
        # 3. Paint, stopping cleanly on Ctrl-C / SIGTERM after a checkpoint.
        try:
            with _stop_signals() as stop_requested, _disk_errors(run):
                image = paint(
                    config,
                    make_objective,
                    None if state is None else state["image"].to(device),
                    hooks=all_hooks,
                    after_step=saver,
                    should_stop=stop_requested.is_set,
                    scale=int(state["scale"]) if state else 0,
                    iteration=int(state["iteration"]) if state else 0,
                    optimizer_state=state["optimizer"] if state else None,
                )
                save_png(to_uint8(image), run.final)
                saver.mark_complete()
        except RenderInterrupted as stop:
            raise Interrupted(
                f"stopped after iteration {stop.iteration} of {total} (checkpoint saved); "
                f"resume with: timelapse-nst resume {run.root}"
            ) from None
        finally:
            if progress is not None and hasattr(progress, "close"):
                progress.close()
            log.close()
    return _finish_video(run, total, started, make_video, notify, progress_factory)


def _finish_video(
    run: RunFolder,
    total: int,
    started: float,
    make_video: bool,
    notify: Notify,
    progress_factory: Callable[[int, int], Any] | None,
) -> RenderResult:
    video = None
    if make_video:
        from timelapse_nst.assembly import assemble_run

        try:
            with _disk_errors(run):
                video = assemble_run(run.root)
        except KeyboardInterrupt:
            raise Interrupted(
                f"the painting is finished, the video is not; make it with: timelapse-nst assemble {run.root}"
            ) from None
        notify(f"video: {video}")
    return RenderResult(run.root, run.final, video, total, time.monotonic() - started)


def _check_sizes(config: RenderConfig, content: Image.Image, style: Image.Image) -> None:
    """VGG19 halves the image at each pool: the deepest layer needs a short edge of 2^pools."""
    deepest = VGG19_LAYERS.index(config.layers.deepest())
    needed = 2 ** sum(1 for name in VGG19_LAYERS[:deepest] if name.startswith("pool"))
    for plan in plan_scales(config):
        scaled = resize_long_edge(content, plan.size)
        sizes = {"content": scaled.size, "style": resize_style(style, scaled.size, config.style_scale).size}
        for role, (width, height) in sizes.items():
            if min(width, height) < needed:
                raise UserError(
                    f"the {role} image is only {width}x{height} px at {plan.size} px (scale {plan.index + 1}); "
                    f"layers down to {config.layers.deepest()} need {needed} px on the short side: "
                    "use a larger --size, style_scale or scales.start"
                )


def _log_hook(log: LogWriter) -> Hook:
    def write(step: Step) -> None:
        if step.iteration > 0:
            log.write(
                {
                    "iteration": step.iteration,
                    "scale": step.scale,
                    "losses": dict(step.losses),
                    "weights": dict(step.weights),
                    "lr": step.learning_rate,
                }
            )

    return write


# -- helpers -------------------------------------------------------------------------------


def _weights_source(weights: str) -> str:
    if weights in ("torchvision", "random"):
        return weights
    path = Path(weights).expanduser()
    if not path.is_file():
        raise UserError(f"weights file {weights} does not exist (use torchvision, random or a .pth path)")
    return str(path.resolve())


def _load_features(source: str, seed: int, notify: Notify, *, progress: bool) -> torch.nn.Sequential:
    if source == "random":
        notify("warning: " + RANDOM_WEIGHTS_WARNING)
    return load_vgg19_features(source, seed=seed, progress=progress)


def _features_on(vgg: torch.nn.Sequential, config: RenderConfig, device: torch.device) -> VGGFeatures:
    needed = [*config.layers.content, *config.layers.style]
    features = VGGFeatures(vgg, needed, pooling=config.pooling).to(device)
    if device.type in ("cpu", "cuda"):
        features = features.to(memory_format=torch.channels_last)  # faster convolutions
    return features


def _manifest(config: RenderConfig, content: Path, style: Path, weights: str) -> dict[str, Any]:
    return {
        "tool": {"name": "timelapse-nst", "version": __version__},
        "weights": weights,
        "render_hash": config.render_hash(),
        "total_iterations": plan_scales(config)[-1].last,
        "inputs": {
            role: {"file": None, "sha256": file_sha256(path), "name": path.name}
            for role, path in (("content", content), ("style", style))
        },
        "config": config.model_dump(mode="json"),
    }


def _check_same_render(run: RunFolder, new: dict[str, Any]) -> None:
    old = run.read_manifest()
    differences = []
    for role in ("content", "style"):
        if old["inputs"][role]["sha256"] != new["inputs"][role]["sha256"]:
            differences.append(f"the {role} image ({old['inputs'][role]['name']} → {new['inputs'][role]['name']})")
    if old.get("weights") != new["weights"]:
        differences.append(f"the weights ({old.get('weights')} → {new['weights']})")
    differences += [f"{key} ({a} → {b})" for key, a, b in _config_changes(old["config"], new["config"])]
    if differences:
        raise UserError(
            f"{run.root} holds a different render: {'; '.join(differences[:4])}"
            f"{' …' if len(differences) > 4 else ''}; use another --out, or --restart to move it aside"
        )


_NOT_RENDER_KEYS = {"name", "description", "checkpoint", "video"}


def _config_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    changes = []
    for key in sorted(set(old) | set(new)):
        if not prefix and key in _NOT_RENDER_KEYS:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and "schedule" not in a:
            changes += _config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append((f"{prefix}{key}", a, b))
    return changes


def _input_hashes(manifest: dict[str, Any]) -> dict[str, str]:
    return {role: str(manifest["inputs"][role]["sha256"]) for role in ("content", "style")}


def _check_input_copy(run: RunFolder, manifest: dict[str, Any], role: str) -> None:
    entry = manifest["inputs"][role]
    path = run.root / str(entry["file"])
    if not path.is_file():
        raise UserError(f"{run.root}: the {role} image copy {entry['file']} is missing; the run cannot continue")
    if file_sha256(path) != entry["sha256"]:
        raise UserError(f"{run.root}: the {role} image {entry['file']} changed since the render began")


@contextmanager
def _locked(run: RunFolder, notify: Notify) -> Iterator[None]:
    note = run.lock()
    if note:
        notify(note)
    try:
        yield
    finally:
        run.unlock()


@contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM ask for a stop after the current iteration; a second Ctrl-C stops now."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return

    def handler(signum: int, frame: Any) -> None:
        if event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield event
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


@contextmanager
def _disk_errors(run: RunFolder) -> Iterator[None]:
    """A full disk (or a file-size limit) becomes one line that says how to go on."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise UserError(
                f"the disk is full while writing to {run.root} ({os.strerror(exc.errno)}); the last checkpoint "
                f"is intact: free some space, then run: timelapse-nst resume {run.root}"
            ) from None
        raise UserError(f"cannot write to {run.root}: {exc.strerror or exc}") from None
