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
from typing import Any

import torch

from timelapse_nst import __version__, checkpoint, presets
from timelapse_nst.capture import is_captured
from timelapse_nst.config import RenderConfig
from timelapse_nst.errors import UserError
from timelapse_nst.inputs import (
    RenderInputs,
    StylePaths,
    check_inputs,
    check_same_render,
    copy_inputs,
    input_hashes,
    new_manifest,
    verify_input_copies,
)
from timelapse_nst.interruption import Interrupted, check_writable_folder, write_errors
from timelapse_nst.optimize import Hook
from timelapse_nst.preview import check_preview, open_preview
from timelapse_nst.run import RunFolder
from timelapse_nst.session import Notify, ProgressFactory, RenderResult, RenderSession
from timelapse_nst.weights import RANDOM_WEIGHTS_WARNING, load_vgg19_features

__all__ = ["Interrupted", "RenderResult", "render", "resume"]


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
    ``$TIMELAPSE_NST_WEIGHTS``, else "torchvision".
    ``publish`` then writes the publishing kit (thumbnail, loops, description), ``credit``
    crediting the painting (see ``timelapse_nst.publish.publish_run``).
    ``preview``: "web" serves a live page on 127.0.0.1 (``preview_port``, default a free one;
    the link goes to ``notify``), "notebook" updates a view in Jupyter; see ``preview/``.
    """
    # 1. Check every input before touching the disk.
    check_preview(preview, preview_port)
    config = config or presets.resolve(preset, overrides=[*overrides, *shortcuts(size, iterations, title)])
    inputs = check_inputs(config, content, style, weights)
    run = RunFolder(Path(out))
    check_writable_folder(run.root)
    manifest = new_manifest(config, inputs)
    # 2. Decide: a new render, the same one continued, or a refusal.
    if restart and run.root.exists() and any(run.root.iterdir()):
        notify(f"moved the previous run to {run.move_aside()}")
    elif run.holds_only_setup():
        notify(f"{run.root} holds only an unfinished set-up: starting afresh there")
    elif run.has_render():
        check_same_render(run, manifest)
        notify(f"{run.root} already holds this render: continuing it")
        return _continue_same(
            run,
            manifest,
            hooks,
            make_video,
            notify,
            progress_factory,
            publish=publish,
            credit=credit,
            preview=preview,
            preview_port=preview_port,
        )
    elif run.root.exists() and any(run.root.iterdir()):
        raise UserError(f"{run.root} is not empty and holds no render; choose another --out")
    # 3. Lay out the run folder and paint.
    vgg = _load_vgg(inputs.weights, config.seed, notify, progress=progress_factory is not None)
    with _preview(preview, preview_port, run, config, notify) as watch, write_errors(run.root), _locked(run, notify):
        _lay_out(run, manifest, inputs)
        session = RenderSession(
            run, config, vgg, hooks=[*hooks, *watch], notify=notify, progress_factory=progress_factory
        )
        return _published(session.execute(None, make_video=make_video), publish, credit, notify)


def resume(
    run_dir: str | Path,
    *,
    hooks: Sequence[Hook] = (),
    make_video: bool = True,
    publish: bool = False,
    credit: str | None = None,
    notify: Notify = lambda message: None,
    progress_factory: ProgressFactory | None = None,
    preview: str | None = None,
    preview_port: int | None = None,
) -> RenderResult:
    """Continue an interrupted render from its run folder alone, exactly where it stopped."""
    check_preview(preview, preview_port)
    run = RunFolder(Path(run_dir))
    manifest = run.read_manifest()
    config = presets.validate_file_data(manifest["config"], f"{run.manifest} config")
    verify_input_copies(run, manifest)
    vgg = _load_vgg(manifest.get("weights", "torchvision"), config.seed, notify, progress=progress_factory is not None)
    with _preview(preview, preview_port, run, config, notify) as watch, write_errors(run.root), _locked(run, notify):
        removed = run.remove_partial_files()
        if removed:
            notify(f"removed {removed} partial file(s) left by the interrupted process")
        state = _checkpoint_of(run, config, manifest, notify)
        session = RenderSession(
            run, config, vgg, hooks=[*hooks, *watch], notify=notify, progress_factory=progress_factory
        )
        return _published(session.execute(state, make_video=make_video), publish, credit, notify)


def shortcuts(size: int | None, iterations: int | None, title: str | None) -> list[str]:
    """The ``--size``/``--iterations``/``--title`` shortcuts as overrides that errors name by their flag."""
    import json

    given = (("size", size, "--size"), ("optimizer.iterations", iterations, "--iterations"))
    overrides = [presets.Override(key, value, flag=flag) for key, value, flag in given if value is not None]
    if title is not None:  # a JSON string is a YAML string: quotes and colons stay literal
        overrides.append(presets.Override("video.title", json.dumps(title), flag="--title"))
    return overrides


# -- steps ---------------------------------------------------------------------------------------


def _continue_same(
    run: RunFolder,
    manifest: dict,
    hooks: Sequence[Hook],
    make_video: bool,
    notify: Notify,
    progress_factory: ProgressFactory | None,
    *,
    publish: bool,
    credit: str | None,
    **preview_options: Any,
) -> RenderResult:
    """``render`` on a folder holding this render: take its new video settings, then resume."""
    old = run.read_manifest()
    if old["config"] != manifest["config"]:  # only settings that don't decide the pixels can differ here
        with write_errors(run.root):
            run.write_manifest({**old, "config": manifest["config"]})
    return resume(
        run.root,
        hooks=hooks,
        make_video=make_video,
        publish=publish,
        credit=credit,
        notify=notify,
        progress_factory=progress_factory,
        **preview_options,
    )


def _preview(
    kind: str | None, port: int | None, run: RunFolder, config: RenderConfig, notify: Notify
) -> AbstractContextManager[list[Hook]]:
    """The live preview's hooks for this render (none without a preview), opened before the lock."""
    return open_preview(
        kind, run.root, is_frame=lambda i, total: is_captured(i, total, config.capture), port=port, notify=notify
    )


def _published(result: RenderResult, publish: bool, credit: str | None, notify: Notify) -> RenderResult:
    """After the video: the publishing kit, if asked for (the caller holds the folder's lock)."""
    if not publish:
        return result
    from timelapse_nst.publish import publish_run

    with write_errors(result.run):
        written = publish_run(result.run, credit=credit, lock=False, notify=notify)
    return dataclasses.replace(result, published=tuple(written))


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
def _locked(run: RunFolder, notify: Notify) -> Iterator[None]:
    note = run.lock()
    if note:
        notify(note)
    try:
        yield
    finally:
        run.unlock()
