"""The Python API: ``render()`` and ``resume()``. The only module that sees every stage.

from timelapse_nst import render
result = render("photo.jpg", "painting.jpg", preset="quick-preview", out="runs/cat")
print(result.video)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import torch

from timelapse_nst.engine.devices import activation_dtype, pick_device, precision_name
from timelapse_nst.engine.loop import Hook
from timelapse_nst.engine.weights import RANDOM_WEIGHTS_WARNING, load_vgg19_features
from timelapse_nst.errors import UserError, check_writable_folder, write_errors
from timelapse_nst.images import load_image
from timelapse_nst.preview import check_preview, open_preview
from timelapse_nst.rendering import checkpoint
from timelapse_nst.rendering.capture import is_captured
from timelapse_nst.rendering.inputs import (
    RenderInputs,
    StylePaths,
    check_inputs,
    check_same_render,
    check_sizes,
    config_changes,
    copy_inputs,
    input_hashes,
    new_manifest,
    rerun_config,
    style_paths,
    verify_input_copies,
)
from timelapse_nst.rendering.interruption import (
    Interrupted,
    Terminated,
    terminate_cleanly,
)
from timelapse_nst.rendering.plan import Plan, gib, plan_record, plan_render, recorded_tiling, refuse_if_too_large
from timelapse_nst.rendering.session import Notify, ProgressFactory, RenderResult, RenderSession
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.settings import presets
from timelapse_nst.settings.config import NOT_RENDER_KEYS, RenderConfig
from timelapse_nst.version import __version__

__all__ = ["Interrupted", "Plan", "RenderResult", "plan", "render", "resume"]


def render(
    content: str | Path,
    style: StylePaths,
    *,
    out: str | Path,
    preset: str | Path | None = None,
    overrides: Sequence[str] = (),
    size: int | None = None,
    iterations: int | None = None,
    title: str | None = None,
    config: RenderConfig | None = None,
    weights: str | None = None,
    memory: int | None = None,
    hooks: Sequence[Hook] = (),
    restart: bool = False,
    make_video: bool = True,
    publish: bool = False,
    credit: str | None = None,
    notify: Notify = lambda message: None,
    progress_factory: ProgressFactory | None = None,
    preview: str | None = None,
    preview_port: int | None = None,
) -> RenderResult:
    """Paint ``content`` in the style of ``style`` (one painting or a list) into the run folder ``out``.

    ``config`` wins over ``preset`` + ``overrides`` (+ the ``size``/``iterations``/``title``
    shortcuts). A folder that already holds this very render is continued; one that holds a
    different render is refused unless ``restart``, which moves it aside (never deletes it).
    ``hooks`` are called with every ``Step`` (a frozen event: observe, don't steer).
    ``weights``: "torchvision" (ImageNet, downloaded once), "random" or a file; not given:
    ``$TIMELAPSE_NST_WEIGHTS``, else "torchvision". ``memory``: bytes the render may take (the
    memory plan tiles and refuses against it; default: the device's free memory).
    ``publish`` then writes the publishing kit (thumbnail, loops, description), ``credit``
    crediting the painting (see ``timelapse_nst.publish.publish_run``).
    ``preview``: "web" serves a live page on 127.0.0.1 (``preview_port``, default a free one;
    the link goes to ``notify``), "notebook" updates a view in Jupyter; see ``preview/``.
    """
    # 1. Check every input before touching the disk, the memory it will take included.
    check_preview(preview, preview_port)
    config = config or presets.resolve(preset, overrides=[*overrides, *shortcuts(size, iterations, title)])
    inputs = check_inputs(config, content, style, weights)
    memory_plan = plan_render(config, inputs.content_size, inputs.style_sizes, memory=memory)
    refuse_if_too_large(config, memory_plan, inputs.content_size, inputs.style_sizes)
    run = RunFolder(Path(out))
    check_writable_folder(run.root)
    manifest = new_manifest(config, inputs)
    activations = precision_name(activation_dtype(config.precision, pick_device(config.device)))
    manifest["plan"] = {**plan_record(memory_plan), "activations": activations}  # a resume keeps both
    # A folder that would be refused is refused before the weights load (a download, a warning
    # line); this look changes nothing, and the decision is taken again under the lock.
    if _decision(run, restart=restart) == "continue":
        check_same_render(run, manifest)
    vgg = _load_vgg(inputs.weights, config.seed, notify, progress=progress_factory is not None)
    painting = _Painting(hooks, make_video, publish, credit, notify, progress_factory, preview, preview_port)
    # 2. Under the folder's lock, decide: a new render, the same one continued, or a refusal.
    #    Nothing is moved, deleted or written before the lock is held.
    with write_errors(run.root), _locked(run, notify):
        decision = _decision(run, restart=restart)
        if decision == "continue":
            check_same_render(run, manifest)
            notify(f"{run.root} already holds this render: continuing it")
            return _continue_same(run, manifest, vgg, painting)
        if decision == "restart":
            notify(f"moved the previous run to {run.move_aside()}")
        elif decision == "afresh":
            notify(f"{run.root} holds only an unfinished set-up: starting afresh there")
            run.remove_partial_files()
        # 3. Lay out the run folder and paint.
        with _preview(painting, run, config) as watch:
            _lay_out(run, manifest, inputs)
            session = painting.session(run, config, vgg, watch)
            return _finished(session, None, painting)


def resume(
    run_dir: str | Path,
    *,
    overrides: Sequence[str] = (),
    hooks: Sequence[Hook] = (),
    make_video: bool = True,
    publish: bool = False,
    credit: str | None = None,
    notify: Notify = lambda message: None,
    progress_factory: ProgressFactory | None = None,
    preview: str | None = None,
    preview_port: int | None = None,
) -> RenderResult:
    """Continue an interrupted render from its run folder alone, exactly where it stopped.

    ``overrides`` (``--set``) may change what does not decide the pixels: ``tiling`` (e.g. after
    running out of memory), ``checkpoint`` and ``video`` settings.
    """
    check_preview(preview, preview_port)
    run = RunFolder(Path(run_dir))
    # 1. Check the folder and the overrides, and load the network, before anything is written.
    manifest = run.read_manifest()
    config = presets.validate_file_data(manifest["config"], f"{run.manifest} config")
    if overrides:
        config = _changed_settings(manifest, config, overrides)
    verify_input_copies(run, manifest)
    _warn_if_too_large(run, manifest, config, notify)
    vgg = _load_vgg(manifest.get("weights", "torchvision"), config.seed, notify, progress=progress_factory is not None)
    painting = _Painting(hooks, make_video, publish, credit, notify, progress_factory, preview, preview_port)
    # 2. Under the lock: the folder is still the one checked; record --set; paint what is left.
    with write_errors(run.root), _locked(run, notify, must_exist=True):
        if run.read_manifest() != manifest:
            raise UserError(f"{run.root} was changed by another process while this one started; run the command again")
        if overrides:
            manifest = {**manifest, "config": config.model_dump(mode="json")}
            run.write_manifest(manifest)
        return _resume_held(run, config, manifest, vgg, painting)


def plan(
    content: str | Path,
    style: StylePaths,
    *,
    preset: str | Path | None = None,
    overrides: Sequence[str] = (),
    size: int | None = None,
    iterations: int | None = None,
    title: str | None = None,
    config: RenderConfig | None = None,
    memory: int | None = None,
) -> Plan:
    """The memory and disk ``render`` with the same arguments would take, and which scales it
    would tile, on this machine (or for ``memory`` free bytes on ``config.device``). Nothing
    is allocated, loaded or written."""
    config = config or presets.resolve(preset, overrides=[*overrides, *shortcuts(size, iterations, title)])
    photo, paintings = load_image(Path(content)), [load_image(path) for path in style_paths(style)]
    check_sizes(config, photo, paintings)
    return plan_render(config, photo.size, [painting.size for painting in paintings], memory=memory)


def shortcuts(size: int | None, iterations: int | None, title: str | None) -> list[str]:
    """The ``--size``/``--iterations``/``--title`` shortcuts as overrides that errors name by their flag."""
    import json

    given = (("size", size, "--size"), ("optimizer.iterations", iterations, "--iterations"))
    overrides = [presets.Override(key, value, flag=flag) for key, value, flag in given if value is not None]
    if title is not None:  # a JSON string is a YAML string: quotes and colons stay literal
        overrides.append(presets.Override("video.title", json.dumps(title), flag="--title"))
    return overrides


# -- steps ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Painting:
    """How ``render``/``resume`` were asked to paint: hooks, what to make after, how to report."""

    hooks: Sequence[Hook]
    make_video: bool
    publish: bool
    credit: str | None
    notify: Notify
    progress_factory: ProgressFactory | None
    preview: str | None
    preview_port: int | None

    def session(
        self, run: RunFolder, config: RenderConfig, vgg: torch.nn.Sequential, watch: list[Hook]
    ) -> RenderSession:
        hooks = [*self.hooks, *watch]
        return RenderSession(run, config, vgg, hooks=hooks, notify=self.notify, progress_factory=self.progress_factory)


def _decision(run: RunFolder, *, restart: bool) -> str:
    """What ``render`` does with the folder (the caller holds its lock): "new", "restart" (move the
    old one aside), "afresh" (over an unfinished set-up of ours), "continue"; refuses a foreign one."""
    occupied = run.root.is_dir() and any(run.root.iterdir())
    if restart and occupied:
        return "restart"
    if run.holds_only_setup():
        return "afresh"
    if run.has_render():
        return "continue"
    if occupied:
        raise UserError(f"{run.root} is not empty and holds no render; choose another --out")
    return "new"


def _continue_same(run: RunFolder, manifest: dict, vgg: torch.nn.Sequential, painting: _Painting) -> RenderResult:
    """``render`` on a folder holding this render (lock held): take its new video settings (keeping
    the title and credits ``publish`` saved, unless given anew), then go on like ``resume``."""
    old = run.read_manifest()
    config_data = rerun_config(old["config"], manifest["config"])
    if config_data != old["config"]:  # only settings that don't decide the pixels can differ here
        old = {**old, "config": config_data}
        run.write_manifest(old)
    config = presets.validate_file_data(config_data, f"{run.manifest} config")
    verify_input_copies(run, old)
    return _resume_held(run, config, old, vgg, painting)


def _resume_held(
    run: RunFolder, config: RenderConfig, manifest: dict, vgg: torch.nn.Sequential, painting: _Painting
) -> RenderResult:
    """Continue the render in ``run`` from its checkpoint (the caller holds the folder's lock)."""
    removed = run.remove_partial_files()
    if removed:
        painting.notify(f"removed {removed} partial file(s) left by the interrupted process")
    state = _checkpoint_of(run, config, manifest, painting.notify)
    with _preview(painting, run, config) as watch:
        return _finished(painting.session(run, config, vgg, watch), state, painting)


def _preview(painting: _Painting, run: RunFolder, config: RenderConfig) -> AbstractContextManager[list[Hook]]:
    """The live preview's hooks for this render (none without a preview), opened under the lock."""

    def is_frame(iteration: int, total: int) -> bool:
        return is_captured(iteration, total, config.capture)

    port, notify = painting.preview_port, painting.notify
    return open_preview(painting.preview, run.root, is_frame=is_frame, port=port, notify=notify)


def _finished(session: RenderSession, state: dict | None, painting: _Painting) -> RenderResult:
    """Paint what is left, then the video and the publishing kit when asked (the caller holds the lock)."""
    up_to_date = session.execute(state)
    run, notify = session.run, painting.notify
    video = run.video if up_to_date else (_make_video(run, notify) if painting.make_video else None)
    return _published(session.result(video), painting.publish, painting.credit, notify)


def _make_video(run: RunFolder, notify: Notify) -> Path:
    """The timelapse from the finished run folder; a stop here leaves the painting whole."""
    from timelapse_nst.assembly import assemble_run

    how = f"the painting is finished, the video is not; make it with: timelapse-nst assemble {run.root}"
    try:
        with terminate_cleanly(), write_errors(run.root):
            video = assemble_run(run.root, lock=False)  # the render holds the folder's lock
    except KeyboardInterrupt:
        raise Interrupted(f"stopped; {how}") from None
    except Terminated:
        raise Interrupted(f"stopped (SIGTERM); {how}", signum=15) from None
    notify(f"video: {video}")
    return video


def _published(result: RenderResult, publish: bool, credit: str | None, notify: Notify) -> RenderResult:
    """After the video: the publishing kit, if asked for (the caller holds the folder's lock)."""
    if not publish:
        return result
    from timelapse_nst.publish import publish_run

    with write_errors(result.run):
        written = publish_run(result.run, credit=credit, lock=False, notify=notify)
    return dataclasses.replace(result, published=tuple(written))


def _changed_settings(manifest: dict, config: RenderConfig, overrides: Sequence[str]) -> RenderConfig:
    """``resume --set``: the config with overrides that leave the pixels alone (refused otherwise).
    Nothing is written here: the caller records it in render.yaml once it holds the lock."""
    data = manifest["config"]
    for text in overrides:
        data = presets.deep_merge(data, presets.parse_override(text))
    changed = presets.validate(data, [], overrides=list(overrides))
    pixels = config_changes(config.model_dump(mode="json"), changed.model_dump(mode="json"))
    if pixels:
        keys = ", ".join(key for key, _, _ in pixels)
        raise UserError(
            f"resume --set can change only {', '.join(sorted(NOT_RENDER_KEYS - {'name', 'description'}))} "
            f"settings; {keys} decides the pixels: start a new render for that"
        )
    return changed


def _warn_if_too_large(run: RunFolder, manifest: dict, config: RenderConfig, notify: Notify) -> None:
    """A resume does not refuse (the render is under way), but says when it may not fit here."""
    content, styles = run.input_files(manifest)
    if content.path is None or any(style.path is None for style in styles):
        return  # verify_input_copies says what is missing
    sizes = [load_image(style.path).size for style in styles]  # type: ignore[arg-type]
    memory = plan_render(config, load_image(content.path).size, sizes, decided=recorded_tiling(manifest))
    if not memory.fits:
        notify(
            f"warning: this render may need more memory than is available here ({gib(memory.peak)} of "
            f"{gib(memory.budget)}); if it runs out, continue with --set tiling.mode=on"
        )


def _lay_out(run: RunFolder, manifest: dict, inputs: RenderInputs) -> None:
    """inputs/ first, render.yaml last: a folder without render.yaml holds only our set-up."""
    copy_inputs(run, manifest, inputs)
    run.frames.mkdir(parents=True, exist_ok=True)
    run.write_manifest(manifest)


def _checkpoint_of(run: RunFolder, config: RenderConfig, manifest: dict, notify: Notify) -> dict | None:
    state, warnings = checkpoint.load(run)
    for warning in warnings:
        notify(warning)
    restart = "start over with `render … --restart`"
    if state is not None and state.get("render_hash") != config.render_hash():
        made_by = str((manifest.get("tool") or {}).get("version", "?"))
        if made_by != __version__:
            raise UserError(
                f"{run.root} was painted by timelapse-nst {made_by}, whose checkpoints this version ({__version__}) "
                f"cannot continue; its frames can still be made into a video: timelapse-nst assemble {run.root}"
            )
        raise UserError(f"the checkpoint in {run.root} belongs to another configuration; {restart}")
    if state is not None and state.get("inputs", input_hashes(run, manifest)) != input_hashes(run, manifest):
        raise UserError(f"the checkpoint in {run.root} was made from other input images; {restart}")
    return state


def _load_vgg(source: str, seed: int, notify: Notify, *, progress: bool) -> torch.nn.Sequential:
    if source == "random":
        notify("warning: " + RANDOM_WEIGHTS_WARNING)
    return load_vgg19_features(source, seed=seed, progress=progress)


@contextmanager
def _locked(run: RunFolder, notify: Notify, *, must_exist: bool = False) -> Iterator[None]:
    with run.locked(must_exist=must_exist) as note:
        if note:
            notify(note)
        yield
