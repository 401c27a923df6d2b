"""The render's inputs: checked before anything is written, recorded in render.yaml, verified on resume."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from timelapse_nst.errors import UserError
from timelapse_nst.images import file_sha256, load_image, resize_long_edge, resize_style
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.runfolder.formats import MANIFEST_FORMAT
from timelapse_nst.settings.config import NOT_RENDER_KEYS, VGG19_LAYERS, RenderConfig
from timelapse_nst.settings.scales import plan_scales
from timelapse_nst.version import __version__

StylePaths = str | Path | Sequence[str | Path]


@dataclass(frozen=True)
class RenderInputs:
    """A render's checked inputs: the photo, the painting(s) and where the weights come from."""

    content: Path
    styles: tuple[Path, ...]
    weights: str  # "torchvision", "random" or an absolute file path
    content_size: tuple[int, int]  # (width, height), upright
    style_sizes: tuple[tuple[int, int], ...]


def style_paths(style: StylePaths) -> tuple[Path, ...]:
    """One style path or several, as a tuple of paths."""
    if isinstance(style, (str, Path)):
        return (Path(style),)
    paths = tuple(Path(p) for p in style)
    if not paths:
        raise UserError("no style image given: name at least one painting")
    return paths


def check_inputs(config: RenderConfig, content: str | Path, style: StylePaths, weights: str | None) -> RenderInputs:
    """Every check a render can fail, before the run folder is created: a corrected command
    then starts cleanly instead of meeting a half-made folder."""
    from timelapse_nst.engine.devices import activation_dtype, pick_device

    content, styles = Path(content), style_paths(style)
    if config.style_blend is not None and len(config.style_blend) != len(styles):
        raise UserError(
            f"style_blend has {len(config.style_blend)} weight(s) for {len(styles)} style image(s): "
            "give one weight per painting (e.g. --style-blend 0.7,0.3 for two)"
        )
    photo, paintings = load_image(content), [load_image(path) for path in styles]
    check_sizes(config, photo, paintings)
    source = weights_source(weights)
    activation_dtype(config.precision, pick_device(config.device))  # device and precision exist here
    return RenderInputs(content, styles, source, photo.size, tuple(painting.size for painting in paintings))


def check_sizes(config: RenderConfig, content: Image.Image, styles: Sequence[Image.Image]) -> None:
    """VGG19 halves the image at each pool: the deepest layer needs a short edge of 2^pools."""
    deepest = VGG19_LAYERS.index(config.layers.deepest())
    needed = 2 ** sum(1 for name in VGG19_LAYERS[:deepest] if name.startswith("pool"))
    for plan in plan_scales(config):
        scaled = resize_long_edge(content, plan.size)
        sizes = {"content": scaled.size}
        for number, style in enumerate(styles, start=1):
            role = "style" if len(styles) == 1 else f"style {number}"
            sizes[role] = resize_style(style, scaled.size, config.style_scale).size
        for role, (width, height) in sizes.items():
            if min(width, height) < needed:
                raise UserError(
                    f"the {role} image is only {width}x{height} px at {plan.size} px (scale {plan.index + 1}); "
                    f"layers down to {config.layers.deepest()} need {needed} px on the short side: "
                    "use a larger --size, style_scale or scales.start"
                )


WEIGHTS_ENV = "TIMELAPSE_NST_WEIGHTS"
"""Where the weights come from when no ``--weights`` is given (default: torchvision)."""


def weights_source(weights: str | None) -> str:
    """ "torchvision", "random" or an absolute file path: the argument, else $TIMELAPSE_NST_WEIGHTS."""
    weights = weights or os.environ.get(WEIGHTS_ENV) or "torchvision"
    if weights in ("torchvision", "random"):
        return weights
    path = Path(weights).expanduser()
    if not path.is_file():
        raise UserError(f"weights file {weights} does not exist (use torchvision, random or a .pth path)")
    return str(path.resolve())


def new_manifest(config: RenderConfig, inputs: RenderInputs) -> dict[str, Any]:
    """render.yaml's content before the inputs are copied (their ``file`` is filled in then)."""
    return {
        "format": MANIFEST_FORMAT,
        "tool": {"name": "timelapse-nst", "version": __version__},
        "weights": inputs.weights,
        "render_hash": config.render_hash(),
        "total_iterations": plan_scales(config)[-1].last,
        "inputs": {
            "content": _entry(inputs.content),
            "styles": [_entry(path) for path in inputs.styles],
        },
        "config": config.model_dump(mode="json"),
    }


def _entry(path: Path) -> dict[str, Any]:
    return {"file": None, "sha256": file_sha256(path), "name": path.name}


def copy_inputs(run: RunFolder, manifest: dict[str, Any], inputs: RenderInputs) -> None:
    """Byte copies of the inputs into ``inputs/`` (a resume needs nothing outside the folder)."""
    manifest["inputs"]["content"]["file"] = run.copy_input("content", inputs.content)
    for number, (entry, path) in enumerate(zip(manifest["inputs"]["styles"], inputs.styles, strict=True), 1):
        entry["file"] = run.copy_input("style" if len(inputs.styles) == 1 else f"style-{number}", path)


def input_hashes(run: RunFolder, manifest: dict[str, Any]) -> dict[str, Any]:
    """The inputs' hashes as checkpoints record them (one style: a string, as in version 0.1)."""
    content, styles = run.input_files(manifest)
    shas = [style.sha256 for style in styles]
    return {"content": content.sha256, "style": shas[0] if len(shas) == 1 else shas}


def check_same_render(run: RunFolder, new: dict[str, Any]) -> None:
    """Refuse (saying what differs) a folder that holds another render than ``new``."""
    old = run.read_manifest()
    differences = []
    old_content, old_styles = run.input_files(old)
    new_content, new_styles = run.input_files(new)
    for before, after in ((old_content, new_content), *zip(old_styles, new_styles, strict=False)):
        if before.sha256 != after.sha256:
            differences.append(f"the {before.role} image ({before.name} → {after.name})")
    if len(old_styles) != len(new_styles):
        differences.append(f"the number of styles ({len(old_styles)} → {len(new_styles)})")
    if old.get("weights") != new["weights"]:
        differences.append(f"the weights ({old.get('weights')} → {new['weights']})")
    differences += [f"{key} ({a} → {b})" for key, a, b in config_changes(old["config"], new["config"])]
    if differences:
        more = " …" if len(differences) > 4 else ""
        raise UserError(
            f"{run.root} holds a different render: {'; '.join(differences[:4])}{more}; "
            "use another --out, or --restart to move it aside"
        )


PUBLISHED_KEYS = (("video", "title"), ("credits", "artist"), ("credits", "photo"), ("credits", "painting"))
"""What ``publish --title/--credit`` saves in render.yaml (for ``assemble`` and later re-runs)."""


def rerun_config(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The config a re-run of ``render`` on its own folder records: the new settings, except that a
    title or credit the folder holds (one ``publish`` saved) stays unless the command gives its own."""

    def section_of(config: dict[str, Any], name: str) -> dict[str, Any]:
        value = config.get(name)
        return dict(value) if isinstance(value, dict) else {}

    kept = {section: section_of(new, section) for section, _ in PUBLISHED_KEYS}
    for section, key in PUBLISHED_KEYS:
        before = section_of(old, section).get(key)
        if before and not kept[section].get(key):  # None, "" or []: the command gave none
            kept[section][key] = before
    return {**new, **kept}


def config_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, old, new) for every key that decides the pixels and differs."""
    changes = []
    for key in sorted(set(old) | set(new)):
        if not prefix and key in NOT_RENDER_KEYS:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and "schedule" not in a:
            changes += config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append((f"{prefix}{key}", a, b))
    return changes


def verify_input_copies(run: RunFolder, manifest: dict[str, Any]) -> None:
    """Before a resume: every input copy is there and unchanged."""
    content, styles = run.input_files(manifest)
    for entry in (content, *styles):
        if entry.path is None:
            raise UserError(
                f"{run.root}: the {entry.role} image copy of {entry.name} is missing; the run cannot continue"
            )
        if file_sha256(entry.path) != entry.sha256:
            raise UserError(f"{run.root}: the {entry.role} image {entry.path.name} changed since the render began")
