"""One frozen, validated render configuration: the schema every preset, flag and run folder shares.

Only the schema lives here; reading preset files, ``extends:`` and ``--set`` overrides live in
``presets.py``. YAML key, CLI flag and field share one name.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from timelapse_nst.settings.credits import Credits
from timelapse_nst.settings.regions import Regions, Reveal
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

    # The models here declare each key as a Field with its description, then its validator: alike
    # in shape by nature (pydantic reads them from the class), as the clip settings below are.
    model_config = _FROZEN
    content: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CONTENT_LAYERS),
        min_length=1,
        description="VGG19 layers whose features carry the photo's content (the seed's: relu4_2)",
    )
    style: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default_factory=lambda: dict(DEFAULT_STYLE_LAYERS),
        min_length=1,
        description="VGG19 layers whose Gram matrices carry the style, each with its weight (a plain list "
        "means equal weights; the seed's: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1)",
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
    name: Literal["lbfgs", "adam"] = Field(
        "lbfgs", description="lbfgs: L-BFGS on the pixels (see line_search); adam: Adam, smoother motion"
    )
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
    content: Schedule = Field(1.0e5, description="weight of the content loss: how much the photo's features count")
    style: Schedule = Field(3.0e4, description="weight of the style loss: how much the painting's Gram matrices count")
    tv: Schedule = Field(1.0, description="weight of the total-variation loss, which smooths neighbouring pixels")

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
    every: int = Field(1, ge=1, description="spacing: every: keep each `every`-th iteration")
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
    every_iterations: int | None = Field(50, ge=1, description="save every this many iterations (null: not by count)")
    every_seconds: float | None = Field(
        120.0, gt=0, description="save when this many seconds passed since the last save (null: not by time)"
    )


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


TEMPORAL_WEIGHT = 1.0e3
"""The temporal loss's default weight (see ``Clip.temporal_weight``)."""


class Clip(BaseModel):
    """How a video clip is painted (a render whose content is a video; ignored for a photo).

    Frame 0 is painted as a still is, with every other setting of the preset; each later frame
    starts from the previous painted frame carried along the optical flow between the input
    frames, and a temporal loss keeps it close to that where the flow can be trusted (Ruder et
    al. 2016, "Artistic style transfer for videos").
    """

    model_config = _FROZEN
    start: float = Field(0.0, ge=0, description="seconds into the source where the painted clip starts (--start)")
    end: float | None = Field(
        None, gt=0, description="seconds into the source where it ends (--end); not given: the source's end"
    )
    fps: float | None = Field(
        None,
        gt=0,
        le=240,
        description="frames per second of the painted clip (--fps); not given: the source's rate, a variable "
        "rate made constant. 29.97, 23.976 and 59.94 mean the NTSC rates (30000/1001 ...)",
    )
    iterations: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="iterations of each frame after the first (frame 0, and a frame after a scene cut, get "
        "optimizer.iterations); not given: a quarter of optimizer.iterations, at least 10",
    )
    temporal_weight: float = Field(
        TEMPORAL_WEIGHT,
        ge=0,
        allow_inf_nan=False,
        description="weight of the temporal loss: the mean squared difference, in levels, between a frame and the "
        "earlier painted frame(s) carried along the flow, where the flow check trusts it; 0: none (each frame "
        "still starts from the previous one)",
    )
    still_weight: float = Field(
        100.0,
        ge=1,
        le=1e6,
        allow_inf_nan=False,
        description="how many times harder the temporal loss holds a pixel that neither moved (flow under "
        "0.3 px) nor changed (its 5x5 neighbourhood within 3 levels) since the previous frame: a still "
        "background stays put instead of creeping on towards convergence frame after frame; 1: Ruder et "
        "al.'s uniform weight",
    )
    earlier_frames: list[Annotated[int, Field(ge=1, le=16)]] = Field(
        default_factory=lambda: [1],
        min_length=1,
        max_length=4,
        description="which earlier frames the temporal loss looks back to: [1] the previous one; [1, 2, 4] "
        "Ruder et al.'s long-term consistency (each pixel held to the nearest of them that saw it)",
    )
    flow: Literal["ultrafast", "fast", "medium"] = Field(
        "medium", description="OpenCV DIS optical flow preset: faster or more precise motion between the input frames"
    )
    scene_cut: float = Field(
        0.5,
        ge=0,
        le=1,
        description="a frame where the flow check trusts less than this share of the pixels starts fresh from its "
        "photo with optimizer.iterations (a scene cut: nothing is carried across it); 0: never; 1: every frame "
        "(each painted on its own, as a still: what the temporal consistency is measured against)",
    )
    schedules: Literal["frame", "clip"] = Field(
        "frame",
        description="frame: every schedule runs over frame 0's iterations and later frames keep the values it "
        "ended with; clip: schedules run over the clip's frames instead (frame i at i/(frames-1) of the way; "
        "keyframes count frames), so style-morph turns the first painting into the second along the clip",
    )
    max_frames: int = Field(
        300,
        ge=1,
        le=1_000_000,
        description="the most frames a clip may be painted as (at about 2-10 s a frame on a CPU at 256 px): a "
        "longer clip is refused before anything is written; trim it, lower --fps, or raise this",
    )

    @field_validator("earlier_frames")
    @classmethod
    def _increasing(cls, frames: list[int]) -> list[int]:
        if any(b <= a for a, b in itertools.pairwise(frames)):
            raise ValueError(f"earlier_frames must increase strictly, got {frames}")
        return frames

    @model_validator(mode="after")
    def _end_after_start(self) -> Clip:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"the clip must end after it starts: end {self.end:g} <= start {self.start:g}")
        return self

    def later_iterations(self, first: int) -> int:
        """Iterations of a frame after the first, where frame 0 gets ``first`` (optimizer.iterations)."""
        return self.iterations if self.iterations is not None else max(10, first // 4)

    def trims(self) -> bool:
        """Whether the trim or the rate is set (only a clip can have them)."""
        return self.start > 0 or self.end is not None or self.fps is not None


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
    name: str = Field("custom", description="the preset's name (what `presets list` shows; not part of the render)")
    description: str = Field(
        "", description="what the preset does, in a sentence (its first line is what `presets list` shows)"
    )
    size: int = Field(512, ge=16, le=8192, description="long edge of the painting, pixels")
    style_scale: float = Field(1.0, gt=0, le=8, description="style image size relative to the content")
    seed: int = Field(
        0,
        ge=0,
        le=2**64 - 1,
        description="seed of the starting noise and of random weights: a CPU render is reproducible",
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="where to paint; auto prefers CUDA, then Apple's MPS, then the CPU"
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="VGG19's activations (Gram matrices and losses stay fp32); auto: bf16 or fp16 on a GPU, "
        "bf16 on a CPU only where a one-off measurement finds it faster than fp32 (cached per machine)",
    )
    init: str = Field(
        "content",
        min_length=1,
        description="where the painting starts: content (the photo), style (the first painting, "
        "stretched to the photo), noise (seeded), or an image file (a path; copied into the run folder "
        "like the photo and resized to the painting)",
    )
    pooling: Literal["max", "avg"] = Field("max", description="VGG19's pooling layers: max (as trained) or avg")
    layers: Layers = Field(Layers(), description="which VGG19 layers carry content and style")
    optimizer: Optimizer = Field(Optimizer(), description="the optimiser of the pixels and its iterations")
    loss_weights: LossWeights = Field(LossWeights(), description="the weights of the content, style and TV losses")
    style_blend: Annotated[list[Schedule] | None, AfterValidator(_check_blend)] = Field(
        None,
        min_length=1,
        description="weight of each style image (number or schedule) when there are several; "
        "the style loss is their weighted mean; not given: equal weights",
    )
    color: Color = Field(Color(), description="keep the photo's colours, and how much")
    regions: Regions | None = Field(
        None, description="how a colour map (--regions) is read; the masks themselves are inputs, like the photo"
    )
    reveal: Reveal | None = Field(
        None, description="paint that spreads across the canvas (--reveal KIND); not given: everywhere at once"
    )
    scales: Scales | None = Field(None, description="coarse-to-fine; not given: a single scale at full size")
    capture: Capture = Field(Capture(), description="which iterations become frames of the video")
    tiling: Tiling = Field(Tiling(), description="evaluate the objective tile by tile when a scale does not fit")
    checkpoint: Checkpoint = Field(Checkpoint(), description="when to save a checkpoint to resume from")
    video: VideoSettings = Field(VideoSettings(), description="the timelapse video that `assemble` makes")
    final: Final = Field(Final(), description="how final.png is written")
    credits: Credits = Field(
        Credits(), description="who made the photo, the painting(s) and the video; a plain string credits the painting"
    )
    clip: Clip = Field(Clip(), description="how a video clip is painted, frame by frame (ignored for a photo)")

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

    @property
    def init_file(self) -> str | None:
        """The image file the painting starts from, or None when ``init`` names a start
        (``content``, ``style``, ``noise``; a file of that very name is ``./noise``)."""
        return None if self.init in INIT_STARTS else self.init

    def blend_at(self, iteration: int, total: int, styles: int) -> tuple[float, ...]:
        """Each style's share of the style loss at ``iteration`` (summing to 1; all 0 if the blend is 0 there)."""
        raw = [1.0] * styles if self.style_blend is None else [s.at(iteration, total) for s in self.style_blend]
        whole = sum(raw)
        return tuple(w / whole if whole > 0 else 0.0 for w in raw)

    def frame_edge(self) -> int:
        """The long edge frames are stored at, at most: ``capture.max_size``, else the video's long side."""
        return self.capture.max_size or max(self.video.size)

    def render_hash(self) -> str:
        """Hash of what decides the pixels (not the keys in ``NOT_RENDER_KEYS``)."""
        data = self.model_dump(mode="json", exclude=set(NOT_RENDER_KEYS))
        data["clip"].pop("max_frames")
        if data["clip"] == _DEFAULT_CLIP:  # a still render's hash is what it was before clips
            del data["clip"]
        # Sections added after 0.3 count only when given: a render begun before them keeps its hash.
        data = {key: value for key, value in data.items() if not (key in _OPTIONAL_SECTIONS and value is None)}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


_OPTIONAL_SECTIONS = frozenset({"regions", "reveal"})

INIT_STARTS = ("content", "style", "noise")
"""The starts ``init`` names; anything else is an image file."""

NOT_RENDER_KEYS = frozenset({"name", "description", "checkpoint", "video", "final", "credits", "tiling"})
"""Top-level keys that do not decide the pixels (docs/big-paintings.md lists them for
``resume --set``): changing them keeps a render resumable and its ``render_hash``. ``name``,
``description`` and ``credits`` are words; ``checkpoint`` is when the state is saved; ``video`` is
made from the frames afterwards; ``final`` is final.png's format (the same painting, written anew);
``tiling`` is how the objective is evaluated, not which one (tiled, it is the same to float
rounding): a render that ran out of memory continues tiled (``resume --set tiling.mode=on``).
``clip.max_frames`` does not decide them either (it only refuses a clip before painting).
Every other key decides the painting, its frames or its log."""
NOT_RENDER_SUBKEYS = frozenset({"clip.max_frames"})

_DEFAULT_CLIP = {key: value for key, value in Clip().model_dump(mode="json").items() if key != "max_frames"}
