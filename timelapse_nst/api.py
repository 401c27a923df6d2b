"""The Python API: ``render()``, ``resume()`` and ``plan()``; the only module that sees every stage.

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

from timelapse_nst.clip.session import ClipSession
from timelapse_nst.clip.source import ClipSource, clip_content, decode, reopen_clip
from timelapse_nst.engine.loop import Hook
from timelapse_nst.engine.weights import RANDOM_WEIGHTS_WARNING, load_vgg19_features, weights_availability
from timelapse_nst.errors import UserError, check_writable_folder, option, setting, write_errors
from timelapse_nst.images import load_image
from timelapse_nst.preview import check_preview, open_preview
from timelapse_nst.rendering import checkpoint
from timelapse_nst.rendering.capture import is_captured
from timelapse_nst.rendering.destination import Destination, bytes_held, destination
from timelapse_nst.rendering.inputs import (
    RenderInputs,
    StylePaths,
    check_inputs,
    config_changes,
    copy_inputs,
    enlargement_note,
    input_hashes,
    new_manifest,
    rerun_config,
    verify_input_copies,
)
from timelapse_nst.rendering.interruption import (
    Interrupted,
    Terminated,
    terminate_cleanly,
)
from timelapse_nst.rendering.plan import Plan, gib, plan_render, recorded_tiling, refuse_what_cannot_fit
from timelapse_nst.rendering.regions import RegionFiles, reveal_argument
from timelapse_nst.rendering.session import Notify, ProgressFactory, RenderResult, RenderSession
from timelapse_nst.runfolder.clip import clip_record
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
    masks: Sequence[str | Path] = (),
    regions: str | Path | None = None,
    keep: str | Path | None = None,
    reveal: str | None = None,
) -> RenderResult:
    """Paint ``content`` in the style of ``style`` (one painting or a list) into the run folder ``out``.

    ``content`` is a photo or a video clip (told apart by what the file holds): a clip is painted
    frame by frame (``clip:`` settings; trim and rate with ``overrides=["clip.start=2", ...]``).
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
    Where the paint goes: ``masks`` (one grey mask per painting), or ``regions`` (a colour map,
    a colour per painting: ``regions.colors``); ``keep`` (a grey mask of what stays the photo).
    When: ``reveal``, a kind ("left-to-right", "center-out", ...: the preset key ``reveal.kind``)
    or a grey paint-order image (dark first). The files are copied into the run folder.
    """
    # 1. Check every input before touching the disk, the memory and the disk it will take included.
    check_preview(preview, preview_port)
    kind, order = reveal_argument(reveal) if reveal is not None else (None, None)
    config = with_reveal(config, kind) if config is not None else None
    config = config or presets.resolve(
        preset, overrides=[*overrides, *shortcuts(size, iterations, title), *reveal_override(kind)]
    )
    clip = clip_content(Path(content), config)  # a video: trim, rate, limit and every frame checked here
    blend_given = presets.given_by("style_blend", overrides)
    files = RegionFiles(tuple(Path(mask) for mask in masks), _path(regions), _path(keep), order)
    inputs = check_inputs(
        config,
        content,
        style,
        weights,
        blend_given=blend_given,
        content_size=clip.size if clip else None,
        regions=files,
    )
    run = RunFolder(Path(out))
    check_writable_folder(run.root)
    memory_plan = plan_render(config, inputs.content_size, inputs.style_sizes, memory=memory, out=run.root)
    manifest = {**new_manifest(config, inputs), "plan": memory_plan.record}  # a resume keeps the plan's choices
    if clip is not None:
        manifest["clip"] = clip.record().to_yaml()
    # A folder that would be refused is refused before the weights load (a download, a warning
    # line); this look changes nothing, and the decision is taken again under the lock.
    where = destination(run, manifest, restart=restart)
    refuse_what_cannot_fit(memory_plan, disk=where is not Destination.CONTINUE)  # a continued render: resume's
    if where is not Destination.CONTINUE and (note := enlargement_note(config, inputs)):
        notify(note)  # said once every check passed: what the render enlarges
    vgg = _load_vgg(inputs.weights, config.seed, notify, progress=progress_factory is not None)
    painting = _Painting(hooks, make_video, publish, credit, notify, progress_factory, preview, preview_port)
    # 2. Under the folder's lock, decide: a new render, the same one continued, or a refusal.
    #    Nothing is moved, deleted or written before the lock is held.
    with write_errors(run.root), _locked(run, notify):
        where = destination(run, manifest, restart=restart)
        if where is Destination.CONTINUE:
            notify(f"{run.root} already holds this render: continuing it")
            return _continue_same(run, manifest, vgg, painting)
        if where is Destination.MOVE_ASIDE:
            notify(f"moved the previous run to {run.move_aside()}")
        elif where is Destination.SETUP:
            notify(f"{run.root} holds only an unfinished set-up: starting afresh there")
            run.remove_partial_files()
        # 3. Lay out the run folder and paint.
        with _preview(painting, run, config) as watch:
            _lay_out(run, manifest, inputs, clip)
            return _finished(painting.session(run, config, vgg, watch), None, painting)


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

    ``overrides`` (``--set``) may change what does not decide the pixels (``NOT_RENDER_KEYS``):
    ``tiling`` (e.g. after running out of memory), ``checkpoint``, ``video``, ``final``, ``credits``.
    """
    check_preview(preview, preview_port)
    run = RunFolder(Path(run_dir))
    manifest = run.read_manifest()
    config = presets.validate_file_data(manifest["config"], f"{run.manifest} config")
    # 1. Check the folder and the overrides, and load the network, before anything is written.
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


# plan() repeats render()'s keywords on purpose: it answers for render called with the same ones.
def plan(
    content: str | Path,
    style: StylePaths,
    *,
    out: str | Path | None = None,
    preset: str | Path | None = None,
    overrides: Sequence[str] = (),
    size: int | None = None,
    iterations: int | None = None,
    title: str | None = None,
    config: RenderConfig | None = None,
    weights: str | None = None,
    memory: int | None = None,
    restart: bool = False,
) -> Plan:
    """The memory and disk ``render`` with the same arguments would take, and which scales it
    would tile, on this machine (or for ``memory`` free bytes on ``config.device``, which then
    need not be here). With ``out``: the disk free there and what render would do with that
    folder (``restart`` as render's). Also where the ``weights`` would come from. Nothing is
    allocated, loaded or written; ``Plan.starts`` is the verdict."""
    config = config or presets.resolve(preset, overrides=[*overrides, *shortcuts(size, iterations, title)])
    clip = clip_content(Path(content), config)  # a clip is planned as one of its frames
    inputs = check_inputs(config, content, style, weights, content_size=clip.size if clip else None)
    run = None if out is None else RunFolder(Path(out))
    where = None if run is None else run.root
    memory_plan = plan_render(config, inputs.content_size, inputs.style_sizes, memory=memory, elsewhere=True, out=where)
    memory_plan = dataclasses.replace(memory_plan, weights=weights_availability(inputs.weights))
    if run is None:
        return memory_plan
    check_writable_folder(run.root)
    manifest = {**new_manifest(config, inputs), "plan": memory_plan.record}
    if clip is not None:
        manifest["clip"] = clip.record().to_yaml()
    try:
        found = destination(run, manifest, restart=restart)
    except UserError as refusal:
        return dataclasses.replace(memory_plan, folder=f"refused: {refusal}", folder_refused=True)
    held = bytes_held(run) if found is Destination.CONTINUE else 0
    return dataclasses.replace(memory_plan, folder=f"{run.root}: {found.value}", disk_held=held)


def reveal_override(kind: str | None) -> list[str]:
    """``--reveal KIND`` as the override of ``reveal.kind`` it stands for (errors name the flag)."""
    return [] if kind is None else [presets.Override("reveal.kind", kind, label=option("reveal", kind))]


def with_reveal(config: RenderConfig, kind: str | None) -> RenderConfig:
    """A given config with ``reveal.kind`` set (the rest of its ``reveal:`` kept)."""
    if kind is None:
        return config
    data = config.model_dump(mode="json")
    data["reveal"] = {**(data.get("reveal") or {}), "kind": kind}
    return presets.validate_file_data(data, "--reveal")


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


def shortcuts(size: int | None, iterations: int | None, title: str | None) -> list[str]:
    """The ``size``/``iterations``/``title`` shortcuts as overrides that errors name as the user
    gave them (``--size 8`` on the command line, ``size=8`` from Python)."""
    import json

    given = (("size", "size", size), ("optimizer.iterations", "iterations", iterations))
    overrides = [
        presets.Override(key, value, label=option(name, value)) for key, name, value in given if value is not None
    ]
    if title is not None:  # a JSON string is a YAML string: quotes and colons stay literal
        overrides.append(presets.Override("video.title", json.dumps(title), label=option("title", title)))
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
    ) -> RenderSession | ClipSession:
        """The session that paints what ``run`` holds: a still, or a clip frame by frame."""
        kind = ClipSession if clip_record(run.read_manifest()) is not None else RenderSession
        hooks = [*self.hooks, *watch]
        return kind(run, config, vgg, hooks=hooks, notify=self.notify, progress_factory=self.progress_factory)


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
    _source_frames(run, manifest, config, painting.notify)
    with _preview(painting, run, config) as watch:
        return _finished(painting.session(run, config, vgg, watch), state, painting)


def _preview(painting: _Painting, run: RunFolder, config: RenderConfig) -> AbstractContextManager[list[Hook]]:
    """The live preview's hooks for this render (none without a preview), opened under the lock."""

    def is_frame(iteration: int, total: int) -> bool:
        return is_captured(iteration, total, config.capture)

    port, notify = painting.preview_port, painting.notify
    return open_preview(painting.preview, run.root, is_frame=is_frame, port=port, notify=notify)


def _finished(session: RenderSession | ClipSession, state: dict | None, painting: _Painting) -> RenderResult:
    """Paint what is left, then the video(s) and the publishing kit when asked (the caller holds the lock)."""
    up_to_date = session.execute(state)
    run, notify = session.run, painting.notify
    make = _make_clip_videos if isinstance(session, ClipSession) else _make_video
    video = run.video if up_to_date else (make(run, notify) if painting.make_video else None)
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


def _make_clip_videos(run: RunFolder, notify: Notify) -> Path:
    """A painted clip's videos (stylised.mp4 with the source's sound, and timelapse.mp4) from the
    finished run folder. The one place the api makes them; the painted frames are in stylised/."""
    notify(f"painted {run.stylised_count()} frames into {run.stylised}")
    video = _make_video(run, notify)  # assembly makes stylised.mp4 beside the timelapse
    notify(f"painted clip: {run.stylised_video}")
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
            f"resume {option('overrides')} can change only "
            f"{', '.join(sorted(NOT_RENDER_KEYS - {'name', 'description'}))} "
            f"settings; {keys} decides the pixels: start a new render for that"
        )
    return changed


def _warn_if_too_large(run: RunFolder, manifest: dict, config: RenderConfig, notify: Notify) -> None:
    """A resume does not refuse (the render is under way), but says when it may not fit here."""
    content, styles = run.input_files(manifest)
    if content.path is None or any(style.path is None for style in styles):
        return  # verify_input_copies says what is missing
    sizes = [load_image(style.path).size for style in styles]  # type: ignore[arg-type]
    clip = clip_record(manifest)
    photo = clip.size if clip is not None else load_image(content.path).size
    planned = plan_render(config, photo, sizes, decided=recorded_tiling(manifest), out=run.root)
    planned = dataclasses.replace(planned, disk_held=bytes_held(run))
    if not planned.fits:
        notify(
            f"warning: this render may need more memory than is available here ({gib(planned.peak)} of "
            f"{gib(planned.machine.budget)}); if it runs out, continue with {setting('tiling.mode', 'on')}"
        )
    if not planned.disk_fits:
        notify(
            f"warning: this render may need more disk than is free at {run.root} "
            f"({gib(planned.disk - planned.disk_held)} more, {gib(planned.disk_free or 0)} free)"
        )


def _lay_out(run: RunFolder, manifest: dict, inputs: RenderInputs, clip: ClipSource | None) -> None:
    """inputs/ first (and a clip's source/ frames), render.yaml last: a folder without render.yaml
    holds only our set-up."""
    copy_inputs(run, manifest, inputs)
    run.frames.mkdir(parents=True, exist_ok=True)
    if clip is not None:
        decode(clip, run.source)
    run.write_manifest(manifest)


def _source_frames(run: RunFolder, manifest: dict, config: RenderConfig, notify: Notify) -> None:
    """A clip's input frames are made once; any that went missing are decoded again from the
    clip's copy in inputs/ (the same ffmpeg gives the same frames)."""
    record = clip_record(manifest)
    if record is None or all(run.source_frame(index).is_file() for index in range(record.frames)):
        return
    content, _ = run.input_files(manifest)
    notify(f"{run.source} is incomplete: decoding the clip's frames again")
    decode(reopen_clip(content.path, record, config), run.source)  # type: ignore[arg-type]  # verified


def _checkpoint_of(run: RunFolder, config: RenderConfig, manifest: dict, notify: Notify) -> dict | None:
    state, warnings = checkpoint.load(run)
    for warning in warnings:
        notify(warning)
    restart = f"start over with render … {option('restart', True)}"
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
