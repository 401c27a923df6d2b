"""The render's inputs: checked before anything is written, recorded in render.yaml, verified on resume."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from timelapse_nst import ffmpeg
from timelapse_nst.engine.footprint import long_edge_size
from timelapse_nst.errors import UserError, option
from timelapse_nst.images import MIN_STYLE_EDGE, file_sha256, load_image
from timelapse_nst.rendering.regions import RegionFiles, check_regions, read_regions
from timelapse_nst.runfolder.folder import InputFile, RunFolder
from timelapse_nst.runfolder.formats import MANIFEST_FORMAT
from timelapse_nst.settings.config import INIT_STARTS, NOT_RENDER_KEYS, NOT_RENDER_SUBKEYS, RenderConfig, layer_stride
from timelapse_nst.settings.scales import plan_scales
from timelapse_nst.version import __version__

StylePaths = str | Path | Sequence[str | Path]


@dataclass(frozen=True)
class RenderInputs:
    """A render's checked inputs: the photo, the painting(s), the image it starts from (``init:
    PATH``), where the weights come from, and the region inputs (masks, colour map, keep mask,
    paint order), if any."""

    content: Path
    styles: tuple[Path, ...]
    weights: str  # "torchvision", "random" or an absolute file path
    content_size: tuple[int, int]  # (width, height), upright
    style_sizes: tuple[tuple[int, int], ...]
    init: Path | None = None  # None: the painting starts from the photo, the painting or noise
    regions: RegionFiles = field(default_factory=RegionFiles)


def style_paths(style: StylePaths) -> tuple[Path, ...]:
    """One style path or several, as a tuple of paths."""
    if isinstance(style, (str, Path)):
        return (Path(style),)
    paths = tuple(Path(p) for p in style)
    if not paths:
        raise UserError("no style image given: name at least one painting")
    return paths


def check_inputs(
    config: RenderConfig,
    content: str | Path,
    style: StylePaths,
    weights: str | None,
    *,
    blend_given: str | None = None,
    content_size: tuple[int, int] | None = None,
    regions: RegionFiles = RegionFiles(),
) -> RenderInputs:
    """Every check of the inputs a render can fail, before the run folder is created: a corrected
    command then starts cleanly instead of meeting a half-made folder. (The device, its precision,
    memory and disk are the memory plan's checks.) ``blend_given``: how the user gave
    ``style_blend`` (None: it is the preset's). ``content_size``: the content is a clip, painted at
    that size (checked by ``clip.source``), not an image to load. ``regions``: masks, a colour map,
    a keep mask, a paint order."""
    content, styles = Path(content), style_paths(style)
    check_blend(config, len(styles), given=blend_given)
    if content_size is not None and (regions.named() or config.reveal is not None):
        raise UserError(
            f"{option('masks')}, {option('regions')}, {option('keep')} and {option('reveal')} paint a photo; "
            "a clip's frames are painted whole (export a frame as an image to paint it by regions)"
        )
    photo = None if content_size is not None else load_image(content)
    size = content_size or photo.size  # type: ignore[union-attr]  # one of them is given
    paintings = tuple(load_image(path).size for path in styles)
    check_sizes(config, size, paintings)
    if photo is not None:
        check_regions(config, read_regions(config, regions, len(styles)), photo, len(styles))
    init = check_init(config)
    if config.video.audio is not None:  # the video comes last: a bad sound track must not wait for it
        ffmpeg.check_sound(config.video.audio)
    source = weights_source(weights)
    return RenderInputs(content, styles, source, size, paintings, init=init, regions=regions)


def check_init(config: RenderConfig) -> Path | None:
    """The image file ``init`` names, read once as the photo is (one line if it cannot be), or None."""
    if config.init_file is None:
        return None
    path = Path(config.init_file).expanduser()
    if not path.exists():
        near = difflib.get_close_matches(config.init, INIT_STARTS, n=1)
        hint = f"; did you mean '{near[0]}'?" if near else f" (or {', '.join(INIT_STARTS)})"
        raise UserError(f"init: no image file {config.init}{hint}")
    try:
        load_image(path)
    except UserError as error:
        raise UserError(f"init: {error}") from None
    return path


def check_blend(config: RenderConfig, paintings: int, *, given: str | None) -> None:
    """One ``style_blend`` weight per painting: the user's own blend is named as they gave it, a
    preset's (a morph) says how many paintings it needs."""
    if config.style_blend is None or len(config.style_blend) == paintings:
        return
    weights = len(config.style_blend)
    if given is not None:
        raise UserError(f"{given}: {weights} weights for {paintings} painting(s); give one weight per painting")
    raise UserError(
        f"{config.name} needs {weights} paintings (its style_blend has {weights} weights), {paintings} given: "
        f"name {weights} style images"
    )


def check_sizes(config: RenderConfig, content: tuple[int, int], styles: Sequence[tuple[int, int]]) -> None:
    """VGG19 halves the image at each pool: the deepest layer needs a short edge of 2^pools.
    Sizes are (width, height), as ``resize_long_edge`` and ``resize_style`` would make them."""
    needed = layer_stride(config.layers.deepest())
    for plan in plan_scales(config):
        scaled = long_edge_size(content, plan.size)
        sizes = {"content": scaled}
        for number, style in enumerate(styles, start=1):
            role = "style" if len(styles) == 1 else f"style {number}"
            sizes[role] = long_edge_size(style, max(MIN_STYLE_EDGE, round(config.style_scale * max(scaled))))
        for role, (width, height) in sizes.items():
            if min(width, height) < needed:
                raise UserError(
                    f"the {role} image is only {width}x{height} px at {plan.size} px (scale {plan.index + 1}); "
                    f"layers down to {config.layers.deepest()} need {needed} px on the short side: "
                    f"use a larger {option('size')}, style_scale or scales.start"
                )


def enlargement_note(config: RenderConfig, inputs: RenderInputs) -> str | None:
    """A note when the render paints the photo or a painting larger than its file is (soft
    detail, or the pixels of a small painting as brush strokes); None when nothing is enlarged."""
    targets = [(inputs.content, inputs.content_size, config.size)]
    style_edge = max(MIN_STYLE_EDGE, round(config.style_scale * config.size))
    targets += [(path, size, style_edge) for path, size in zip(inputs.styles, inputs.style_sizes, strict=True)]
    enlarged = [
        f"{path.name} {edge / max(size):.1f}x ({size[0]}x{size[1]} px to {edge} px)"
        for path, size, edge in targets
        if edge > max(size)
    ]
    if not enlarged:
        return None
    return f"note: painting at {config.size} px enlarges {', '.join(enlarged)}: expect soft detail"


WEIGHTS_ENV = "TIMELAPSE_NST_WEIGHTS"
"""Where the weights come from when no ``--weights`` is given (default: torchvision)."""


def weights_source(weights: str | None) -> str:
    """ "torchvision", "random" or an absolute file path: the argument, else $TIMELAPSE_NST_WEIGHTS."""
    weights = weights or os.environ.get(WEIGHTS_ENV) or "torchvision"
    if weights in ("torchvision", "random"):
        return weights
    path = Path(weights).expanduser()
    if not path.is_file():
        raise UserError(f"{option('weights', weights)}: no such file (use torchvision, random or a .pth path)")
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
            **({"init": _entry(inputs.init)} if inputs.init is not None else {}),
            # Region inputs only when given (a render without them reads as before).
            **{key: [_entry(path) for path in paths] for key, paths in inputs.regions.named().items()},
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
    if inputs.init is not None:
        manifest["inputs"]["init"]["file"] = run.copy_input("init", inputs.init)
    for key, paths in inputs.regions.named().items():
        for number, (entry, path) in enumerate(zip(manifest["inputs"][key], paths, strict=True), 1):
            entry["file"] = run.copy_input(f"mask-{number}" if key == "masks" else key.replace("_", "-"), path)


REGION_KEYS = {"masks": "mask", "regions": "colour map", "keep": "keep mask", "paint_order": "paint-order"}
"""render.yaml ``inputs`` keys of the region inputs (``RegionFiles.named``, present when given)
and the role messages give them."""


def region_inputs(run: RunFolder, manifest: dict[str, Any]) -> dict[str, list[InputFile]]:
    """The region inputs the manifest names, by key (only those given)."""
    inputs = manifest.get("inputs") or {}
    return {key: run.input_entries(manifest, key, role) for key, role in REGION_KEYS.items() if key in inputs}


def region_files(run: RunFolder, manifest: dict[str, Any]) -> RegionFiles:
    """The run folder's copies of the region inputs (verified by ``verify_input_copies``)."""
    found = {key: [entry.path for entry in entries] for key, entries in region_inputs(run, manifest).items()}
    one = {key: found[key][0] if found.get(key) else None for key in ("regions", "keep", "paint_order")}
    return RegionFiles(tuple(found.get("masks", [])), **one)  # type: ignore[arg-type]


def input_hashes(run: RunFolder, manifest: dict[str, Any]) -> dict[str, Any]:
    """The inputs' hashes as checkpoints record them (one style: a string, as in version 0.1; the
    init image only when there is one)."""
    content, styles = run.input_files(manifest)
    shas = [style.sha256 for style in styles]
    regions = {key: [entry.sha256 for entry in entries] for key, entries in region_inputs(run, manifest).items()}
    hashes = {"content": content.sha256, "style": shas[0] if len(shas) == 1 else shas, **regions}
    init = run.init_file(manifest)
    return {**hashes, "init": init.sha256} if init is not None else hashes


def check_same_render(run: RunFolder, new: dict[str, Any]) -> None:
    """Refuse (saying what differs) a folder that holds another render than ``new``."""
    old = run.read_manifest()
    differences = []
    old_content, old_styles = run.input_files(old)
    new_content, new_styles = run.input_files(new)
    pairs = [(old_content, new_content), *zip(old_styles, new_styles, strict=False)]
    old_init, new_init = run.init_file(old), run.init_file(new)
    if old_init is not None and new_init is not None:
        pairs.append((old_init, new_init))
    for before, after in pairs:
        if before.sha256 != after.sha256:
            differences.append(f"the {before.role} image ({before.name} → {after.name})")
    if len(old_styles) != len(new_styles):
        differences.append(f"the number of styles ({len(old_styles)} → {len(new_styles)})")
    old_regions, new_regions = region_inputs(run, old), region_inputs(run, new)
    for key in REGION_KEYS:
        before, after = old_regions.get(key, []), new_regions.get(key, [])
        if [entry.sha256 for entry in before] != [entry.sha256 for entry in after]:
            names = (", ".join(entry.name for entry in entries) or "none" for entries in (before, after))
            differences.append(f"the {key.replace('_', ' ')} ({' → '.join(names)})")
    if old.get("weights") != new["weights"]:
        differences.append(f"the weights ({old.get('weights')} → {new['weights']})")
    differences += [f"{key} ({a} → {b})" for key, a, b in config_changes(old["config"], new["config"])]
    if differences:
        more = " …" if len(differences) > 4 else ""
        raise UserError(
            f"{run.root} holds a different render: {'; '.join(differences[:4])}{more}; "
            f"use another folder ({option('out')}), or {option('restart', True)} to move it aside"
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
        if (not prefix and key in NOT_RENDER_KEYS) or f"{prefix}{key}" in NOT_RENDER_SUBKEYS:
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
    init = run.init_file(manifest)
    regions = [entry for entries in region_inputs(run, manifest).values() for entry in entries]
    for entry in (content, *styles, *([init] if init is not None else []), *regions):
        if entry.path is None:
            raise UserError(
                f"{run.root}: the {entry.role} image copy of {entry.name} is missing; the run cannot continue"
            )
        if file_sha256(entry.path) != entry.sha256:
            raise UserError(f"{run.root}: the {entry.role} image {entry.path.name} changed since the render began")
