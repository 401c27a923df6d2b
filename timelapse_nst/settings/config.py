"""One frozen, validated render configuration: the schema every preset, flag and run folder shares.

Only the schema lives here; reading preset files, ``extends:`` and ``--set`` overrides live in
``presets.py``. YAML key, CLI flag and field share one name.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from timelapse_nst.settings.credits import Credits
from timelapse_nst.settings.schedules import Schedule
from timelapse_nst.settings.video import VideoSettings

_FROZEN = ConfigDict(frozen=True, extra="forbid")

# torchvision's VGG19 `features`, named the way the papers name them: five blocks of 2, 2, 4, 4, 4
# convolutions, each followed by its ReLU, and a pool closing each block (conv1_1, relu1_1, ... pool5).
_VGG19_BLOCKS = (2, 2, 4, 4, 4)
VGG19_LAYERS: tuple[str, ...] = tuple(
    name
    for block, convs in enumerate(_VGG19_BLOCKS, start=1)
    for name in (*(f"{kind}{block}_{i}" for i in range(1, convs + 1) for kind in ("conv", "relu")), f"pool{block}")
)

# The seed's layers. It keeps torchvision's in-place ReLUs, so what its code calls conv4_2 is in
# fact relu4_2 (and likewise for the style layers); its loss weights are tuned for these.
DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = {name: 1.0 for name in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")}


def layer_stride(name: str) -> int:
    """Image pixels per feature position at VGG19 layer ``name`` (2 to the pools before it)."""
    return 2 ** sum(1 for layer in VGG19_LAYERS[: VGG19_LAYERS.index(name) + 1] if layer.startswith("pool"))


def _check_layer(name: str) -> str:
    if name not in VGG19_LAYERS:
        import difflib

        near = difflib.get_close_matches(name, VGG19_LAYERS, n=1)
        hint = f"; did you mean '{near[0]}'?" if near else f"; valid: {VGG19_LAYERS[0]}..{VGG19_LAYERS[-1]}"
        raise ValueError(f"unknown VGG19 layer '{name}'{hint}")
    return name


class Layers(BaseModel):
    """Which VGG19 layers carry content and style, and how much each style layer counts."""

    model_config = _FROZEN
    content: list[str] = Field(default_factory=lambda: list(DEFAULT_CONTENT_LAYERS), min_length=1)
    style: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default_factory=lambda: dict(DEFAULT_STYLE_LAYERS), min_length=1
    )

    @field_validator("content")
    @classmethod
    def _content_names(cls, names: list[str]) -> list[str]:
        return [_check_layer(n) for n in names]

    @field_validator("style", mode="before")
    @classmethod
    def _style_names(cls, style: Any) -> Any:
        if isinstance(style, list):  # a plain list means equal weights
            for name in style:
                if not isinstance(name, str):  # a list or mapping here cannot even be a key
                    raise ValueError(f"a style layer is a name such as relu1_1, got {name!r}")
            style = {name: 1.0 for name in style}
        if isinstance(style, dict):
            for name in style:
                _check_layer(str(name))
            # Compared as given: float() of a huge YAML integer overflows; the field's own check
            # then refuses it as too large.
            if not any(w > 0 for w in style.values() if isinstance(w, (int, float))):
                raise ValueError("at least one style layer needs a weight greater than 0")
        return style

    def deepest(self) -> str:
        return max([*self.content, *self.style], key=VGG19_LAYERS.index)


class Optimizer(BaseModel):
    """The optimiser of the pixels. Iterations are true iterations (not L-BFGS function evaluations)."""

    model_config = _FROZEN
    name: Literal["lbfgs", "adam"] = "lbfgs"
    iterations: int = Field(300, ge=1, le=1_000_000, description="iterations at full size")
    learning_rate: Schedule | None = Field(
        None, description="step size; default 1.0 for L-BFGS, 10.0 for Adam (pixels are 0..255)"
    )
    history_size: int = Field(10, ge=1, le=200, description="L-BFGS memory (checkpoint size grows with it)")
    line_search: Literal["none", "strong_wolfe"] = Field(
        "none",
        description="'none': bounded L-BFGS, pixels kept in 0..255, one checked evaluation per iteration; "
        "'strong_wolfe': torch's unbounded L-BFGS with the seed's line search",
    )
    tv_smoothing: float = Field(
        2.0,
        ge=0,
        le=64,
        description="ε in pixel levels of the smoothed TV the optimiser minimises (√(d²+ε²)−ε for |d|); "
        "0: the seed's exact TV. Logs always report the exact TV",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_learning_rate(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("learning_rate") is None:
            data = {**data, "learning_rate": 10.0 if data.get("name") == "adam" else 1.0}
        return data

    @field_validator("learning_rate")
    @classmethod
    def _positive_rate(cls, rate: Any) -> Any:
        if rate is not None and rate.extremes()[0] <= 0:
            raise ValueError("the learning rate must stay greater than 0")
        return rate


class LossWeights(BaseModel):
    """The weights of the three loss terms (each may be a schedule). The seed's defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)  # numbers → schedules
    content: Schedule = 1.0e5
    style: Schedule = 3.0e4
    tv: Schedule = 1.0

    @field_validator("content", "style", "tv")
    @classmethod
    def _not_negative(cls, schedule: Any) -> Any:
        if schedule.extremes()[0] < 0:
            raise ValueError("a loss weight must not be negative")
        return schedule


class Scales(BaseModel):
    """Coarse-to-fine: start small, carry the image up by `factor` until full size."""

    model_config = _FROZEN
    start: float = Field(0.25, gt=0, lt=1, description="first scale as a fraction of size")
    factor: float = Field(2**0.5, gt=1, le=4, description="size ratio between neighbouring scales")
    iterations: int = Field(100, ge=1, description="iterations at each scale below full size")


class Capture(BaseModel):
    """Which iterations become frames. Iteration 0 and the last one are always kept."""

    model_config = _FROZEN
    spacing: Literal["every", "eased"] = Field(
        "eased", description="'every': each `every`-th iteration; 'eased': dense early, sparse late"
    )
    every: int = Field(1, ge=1)
    density: float = Field(8.0, gt=0, description="eased: about density*sqrt(iterations) frames")
    compress_level: int = Field(
        0,
        ge=0,
        le=9,
        description="PNG compression of frames: 0 (default) costs ~1% of render time when every "
        "iteration is a frame; 1 makes ~40% smaller files but cost ~5% (measured at 256 px)",
    )
    max_size: int | None = Field(
        None,
        ge=16,
        le=8192,
        description="long edge of the stored frames at most (final.png is always full size); "
        "not given: the long side of the video's resolution",
    )


class Tiling(BaseModel):
    """Evaluate the objective tile by tile, for paintings whose activations don't fit in memory.

    The style stays a whole-image property (one Gram matrix per layer for the whole painting):
    no seams, no style drifting from tile to tile.
    """

    model_config = _FROZEN
    mode: Literal["auto", "off", "on"] = Field(
        "auto",
        description="auto: tile exactly the scales whose memory plan does not fit the device's free "
        "memory; on: tile every scale; off: never tile",
    )
    tile: int = Field(512, ge=1, le=8192, description="edge of a tile (without its context), pixels")
    overlap: int | Literal["auto"] = Field(
        "auto",
        description="context around each tile, pixels; auto: how far the deepest layer in use sees "
        "(80 px for relu5_1), which makes the tiled objective equal the untiled one",
    )

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_booleans(cls, mode: Any) -> Any:
        # YAML 1.1 (PyYAML) reads on/off as booleans: `mode: on` and `--set tiling.mode=on` mean "on".
        return ("on" if mode else "off") if isinstance(mode, bool) else mode

    @field_validator("overlap")
    @classmethod
    def _overlap_range(cls, overlap: int | str) -> int | str:
        if isinstance(overlap, int) and not 0 <= overlap <= 1024:
            raise ValueError(f"the overlap must be between 0 and 1024 px (or auto), got {overlap}")
        return overlap


class Checkpoint(BaseModel):
    """When to save a checkpoint (besides Ctrl-C, SIGTERM and the end)."""

    model_config = _FROZEN
    every_iterations: int | None = Field(50, ge=1)
    every_seconds: float | None = Field(120.0, gt=0)


class Color(BaseModel):
    """Keep the photo's colours (Gatys et al. 2017): ``luminance`` or ``histogram``, and how much."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
    preserve: Literal["none", "luminance", "histogram"] = Field(
        "none",
        description="luminance: the style acts on luminance, the photo's chroma is kept; "
        "histogram: the painting's colours are matched to the photo's before painting",
    )
    amount: Schedule = Field(
        1.0, description="0..1, how much of the photo's colour is kept at each iteration (a schedule may fade it)"
    )

    @field_validator("amount")
    @classmethod
    def _fraction(cls, schedule: Any) -> Any:
        low, high = schedule.extremes()
        if low < 0 or high > 1:
            raise ValueError(f"the amount of the photo's colour must stay within 0..1, got {low:g}..{high:g}")
        return schedule


def _check_blend(blend: list[Any] | None) -> list[Any] | None:
    if blend is None:
        return blend
    for number, schedule in enumerate(blend, start=1):
        if schedule.extremes()[0] < 0:
            raise ValueError(f"the weight of style {number} must not be negative")
    if all(schedule.extremes()[1] <= 0 for schedule in blend):
        raise ValueError("the style blend is zero everywhere: give at least one style a weight above 0")
    return blend


class Final(BaseModel):
    """How final.png is written. It does not change the painting, so it is not in the render hash."""

    model_config = _FROZEN
    bit_depth: Literal[8, 16] = Field(
        8,
        description="8: the usual PNG; 16: 48-bit RGB keeping the optimiser's precision between "
        "the 256 levels (for printing or colour grading; about twice the file size)",
    )
    icc_profile: bool = Field(
        True, description="embed an sRGB ICC profile, so colour-managed programs show the intended colours"
    )


class RenderConfig(BaseModel):
    """Everything a render needs besides the two input images."""

    model_config = _FROZEN
    name: str = "custom"
    description: str = ""
    size: int = Field(512, ge=16, le=8192, description="long edge of the painting, pixels")
    style_scale: float = Field(1.0, gt=0, le=8, description="style image size relative to the content")
    seed: int = Field(0, ge=0, le=2**64 - 1)  # torch seeds take at most 64 bits
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    init: Literal["content", "style", "noise"] = "content"
    pooling: Literal["max", "avg"] = "max"
    layers: Layers = Layers()
    optimizer: Optimizer = Optimizer()
    loss_weights: LossWeights = LossWeights()
    style_blend: Annotated[list[Schedule] | None, AfterValidator(_check_blend)] = Field(
        None,
        min_length=1,
        description="weight of each style image (number or schedule) when there are several; "
        "the style loss is their weighted mean; not given: equal weights",
    )
    color: Color = Color()
    scales: Scales | None = None
    capture: Capture = Capture()
    tiling: Tiling = Tiling()
    checkpoint: Checkpoint = Checkpoint()
    video: VideoSettings = VideoSettings()
    final: Final = Final()
    credits: Credits = Credits()

    @model_validator(mode="before")
    @classmethod
    def _old_spelling(cls, data: Any) -> Any:
        """``weights:`` was this section's name up to 0.3 (render.yaml files and presets still say
        it): read it as ``loss_weights:``, its keys over any given there."""
        if isinstance(data, dict) and isinstance(data.get("weights"), dict):
            data = dict(data)
            old = data.pop("weights")
            current = data.get("loss_weights")
            data["loss_weights"] = {**current, **old} if isinstance(current, dict) else old
        return data

    @field_validator("tiling")
    @classmethod
    def _tile_holds_the_deepest_layer(cls, tiling: Tiling, info: ValidationInfo) -> Tiling:
        layers = info.data.get("layers")  # validated before (field order); absent if it failed
        if layers is not None and tiling.tile < layer_stride(layers.deepest()):
            raise ValueError(
                f"a tile of {tiling.tile} px is too small for the deepest layer in use ({layers.deepest()}): "
                f"tiling.tile must be at least {layer_stride(layers.deepest())} px"
            )
        return tiling

    def blend_at(self, iteration: int, total: int, styles: int) -> tuple[float, ...]:
        """Each style's share of the style loss at ``iteration`` (summing to 1; all 0 if the blend is 0 there)."""
        raw = [1.0] * styles if self.style_blend is None else [s.at(iteration, total) for s in self.style_blend]
        whole = sum(raw)
        return tuple(w / whole if whole > 0 else 0.0 for w in raw)

    def render_hash(self) -> str:
        """Hash of what decides the pixels (not the keys in ``NOT_RENDER_KEYS``)."""
        data = self.model_dump(mode="json", exclude=set(NOT_RENDER_KEYS))
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


NOT_RENDER_KEYS = frozenset({"name", "description", "checkpoint", "video", "final", "credits", "tiling"})
"""Top-level keys that do not decide the pixels: changing them keeps a render resumable.
``tiling`` is how the objective is evaluated, not which one (tiled, it is the same to float
rounding): a render that ran out of memory continues tiled (``resume --set tiling.mode=on``)."""
