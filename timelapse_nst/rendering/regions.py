"""A render's region inputs: masks, a colour map, a keep mask, a paint-order image.

Read and checked before anything is written (one line for every way they can be wrong), then
turned into the engine's guides at each scale's size. Masks are grey (white: the style paints,
black: it does not; soft edges allowed) and of any size: each is stretched to the photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from timelapse_nst.errors import UserError
from timelapse_nst.images import load_image, resize_long_edge
from timelapse_nst.settings.config import RenderConfig, layer_stride
from timelapse_nst.settings.regions import BLACK, REVEAL_KINDS, Regions, rgb
from timelapse_nst.settings.scales import plan_scales

if TYPE_CHECKING:  # torch only where the guides are made: the CLI and batch read inputs without it
    import torch

    from timelapse_nst.engine.guides import Guides

COLOR_TOLERANCE = 60.0
"""A colour-map pixel farther than this (RGB distance in levels) from every style's colour and
from black matches none (JPEG noise and anti-aliased edges are nearer)."""
STRAY_SHARE = 0.005
"""One colour that matches no style may cover at most this share of the map (edges blend many
colours, each a few pixels; a region painted in a wrong colour is far more)."""


@dataclass(frozen=True)
class RegionFiles:
    """The region inputs a render was given (all optional)."""

    masks: tuple[Path, ...] = ()
    regions: Path | None = None  # a colour map: a colour per style
    keep: Path | None = None  # where the photo stays
    paint_order: Path | None = None  # the reveal's grey paint-order image, dark first

    def named(self) -> dict[str, list[Path]]:
        """The given files by their key in render.yaml's ``inputs`` (and ``inputs/`` names)."""
        keys = {"masks": list(self.masks), "regions": [self.regions], "keep": [self.keep]}
        keys["paint_order"] = [self.paint_order]
        return {key: [p for p in paths if p is not None] for key, paths in keys.items() if any(paths)}


@dataclass(frozen=True)
class RegionImages:
    """The region inputs decoded at their own size: weights 0..1 as float32 (H, W) arrays."""

    masks: tuple[np.ndarray, ...] | None  # one per style (from --masks or the colour map)
    labels: tuple[str, ...]  # how messages name each style's region
    keep: np.ndarray | None
    order: np.ndarray | None


def reveal_argument(value: str) -> tuple[str | None, Path | None]:
    """``--reveal VALUE``: a kind, or the path of a grey paint-order image (then kind ``order``)."""
    if value in REVEAL_KINDS:
        return value, None
    path = Path(value)
    if path.suffix or path.exists() or "/" in value:
        return "order", path
    kinds = ", ".join(kind for kind in REVEAL_KINDS if kind != "order")
    raise UserError(f"--reveal {value}: unknown kind; kinds: {kinds}, or a grey paint-order image file")


def read_regions(config: RenderConfig, files: RegionFiles, styles: int) -> RegionImages | None:
    """The decoded region inputs (None when there are none and no reveal needs them); every
    mistake in them is a UserError, before anything is written."""
    _check_combination(config, files, styles)
    keep = None if files.keep is None else _grey(files.keep, "--keep")
    order = None if files.paint_order is None else _grey(files.paint_order, "--reveal")
    masks: tuple[np.ndarray, ...] | None = None
    labels = tuple(f"style {n}'s region" for n in range(1, styles + 1))
    if files.masks:
        masks = tuple(_grey(path, f"mask {n} of --masks") for n, path in enumerate(files.masks, start=1))
        labels = tuple(f"mask {n} ({path.name})" for n, path in enumerate(files.masks, start=1))
    elif files.regions is not None:
        colors = (config.regions or Regions()).style_colors(styles)
        masks = colour_map(_image(files.regions, "--regions"), colors, files.regions.name)
        labels = tuple(f"the {color} region of {files.regions.name} (style {n})" for n, color in enumerate(colors, 1))
    for label, mask in zip(labels, masks, strict=True) if masks is not None else ():
        if mask.max() < BLACK:
            raise UserError(f"{label} is empty (all black): white marks where its style paints")
    if masks is None and keep is None and config.reveal is None:
        return None
    return RegionImages(masks, labels, keep, order)


def _check_combination(config: RenderConfig, files: RegionFiles, styles: int) -> None:
    """Which inputs go together: counts, and what the reveal's kind needs."""
    if files.masks and files.regions is not None:
        raise UserError("give --masks or --regions (a colour map), not both")
    if files.masks and len(files.masks) != styles:
        raise UserError(
            f"--masks has {len(files.masks)} mask(s) for {styles} style image(s): give one mask per painting"
        )
    if files.regions is not None:
        colors = (config.regions or Regions()).style_colors(styles)
        if len(colors) != styles:
            given = config.regions is not None and config.regions.colors is not None
            raise UserError(
                f"regions.colors has {len(colors)} colour(s) for {styles} style image(s): give one per painting"
                if given
                else f"the colour map's default colours serve at most {len(colors)} styles: give regions.colors"
            )
    kind = config.reveal.kind if config.reveal is not None else None
    if kind == "order" and files.paint_order is None:
        raise UserError("reveal kind order needs a grey paint-order image: --reveal FILE")
    if kind != "order" and files.paint_order is not None:
        raise UserError(f"a paint-order image goes with reveal kind order, not {kind}")
    if kind == "regions" and not (files.masks or files.regions):
        raise UserError("reveal kind regions reveals each style's region in turn: give --masks or --regions")
    spans = config.reveal.regions if config.reveal is not None else None
    if kind == "regions" and spans is not None and len(spans) != styles:
        raise UserError(f"reveal.regions has {len(spans)} span(s) for {styles} style image(s): give one per painting")


def _image(path: Path, role: str) -> Image.Image:
    """A region input decoded; its faults (missing, a folder, not an image) named with its role."""
    try:
        return load_image(path)
    except UserError as error:
        raise UserError(f"{role}: {error}") from None


def _grey(path: Path, role: str) -> np.ndarray:
    """A mask file as weights 0..1 (any image; colours count by their brightness)."""
    return np.asarray(_image(path, role).convert("L"), dtype=np.float32) / 255.0


def colour_map(image: Image.Image, colors: Sequence[str], name: str) -> tuple[np.ndarray, ...]:
    """One mask per style from a colour-coded map: each pixel goes to the nearest of black (no
    style) and the styles' colours. A colour far from all of them that covers more than a
    sliver of the map is refused, naming it."""
    pixels = np.asarray(image, dtype=np.float32).reshape(-1, 3)
    palette = np.array([(0, 0, 0), *(rgb(color) for color in colors)], dtype=np.float32)
    distance = np.stack([np.linalg.norm(pixels - colour, axis=1) for colour in palette])
    nearest = distance.argmin(0)
    stray = pixels[distance.min(0) > COLOR_TOLERANCE].astype(np.uint8)
    if len(stray):
        values, counts = np.unique(stray, axis=0, return_counts=True)
        if counts.max() > STRAY_SHARE * len(pixels):
            r, g, b = values[counts.argmax()]
            share = counts.max() / len(pixels)
            raise UserError(
                f"colour map {name}: #{r:02x}{g:02x}{b:02x} ({share:.0%} of it) matches no style; "
                f"the styles' colours are {', '.join(colors)} (regions.colors), black keeps the photo"
            )
    height, width = image.height, image.width
    masks = tuple((nearest == k).reshape(height, width).astype(np.float32) for k in range(1, len(palette)))
    for number, (color, mask) in enumerate(zip(colors, masks, strict=True), start=1):
        if not mask.any():
            raise UserError(f"colour map {name} has no {color} region (style {number}'s colour): paint one")
    return masks


# -- at a scale -------------------------------------------------------------------------------


def _at_size(weights: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """A weight map stretched to (width, height) with a bilinear filter (soft edges stay soft)."""
    import torch

    image = Image.fromarray(weights, mode="F")
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(image, dtype=np.float32).clip(0.0, 1.0).copy())


def guides_at(
    config: RenderConfig,
    images: RegionImages | None,
    styles: int,
    size: tuple[int, int],
    *,
    device: torch.device | None = None,
) -> Guides | None:
    """The engine's guides for a canvas of ``size`` (width, height); None without region inputs."""
    import torch

    from timelapse_nst.engine.guides import Guides

    if images is None:
        return None
    masks = None if images.masks is None else torch.stack([_at_size(mask, size) for mask in images.masks])
    return Guides(
        masks,
        config.layers.style,
        (size[1], size[0]),
        keep=None if images.keep is None else _at_size(images.keep, size),
        reveal=config.reveal,
        order=None if images.order is None else _at_size(images.order, size),
        styles=styles,
        device=device,
    )


def check_regions(config: RenderConfig, images: RegionImages | None, content: Image.Image, styles: int) -> None:
    """Refuse a region the keep mask swallows, and one too small for a style layer at some scale:
    with less than one feature position of mass there, its Gram would describe the features
    around it, not its own (pystiche refuses the same)."""
    if images is None:
        return
    for plan in reversed(plan_scales(config)):  # full size first: the keep mask's verdict is plainest there
        size = resize_long_edge(content, plan.size).size
        guides = guides_at(config, images, styles, size)
        assert guides is not None
        for layer, masses in guides.masses().items():
            for label, mass in zip(images.labels, masses, strict=True):
                if mass <= 0:
                    raise UserError(f"{label} lies entirely under the keep mask: nothing of it is left to paint")
                if mass < 1.0:
                    stride = layer_stride(layer)
                    raise UserError(
                        f"{label} is too small for {layer} at {plan.size} px: it covers {mass:.2f} of one "
                        f"{stride}x{stride} px cell there; paint a larger region, use a larger --size, "
                        "or leave that layer out"
                    )
