"""The options of the commands that paint, declared once: ``render`` takes all of them, ``plan``
the same (refusing in one line those that cannot change a plan), ``resume`` a few. One name per
concept, as in presets."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from timelapse_nst.errors import UserError

# One typer declaration per option (typer reads them from the annotations): alike in shape by nature.
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, notes or warnings (errors still print).")]
NoVideo = Annotated[bool, typer.Option("--no-video", help="Skip the video; make it later with `assemble`.")]
Publish = Annotated[
    bool, typer.Option("--publish", help="Then write thumbnail, loops and description (see `publish`).")
]
Credit = Annotated[Optional[str], typer.Option(help="With --publish: the painting's credit.")]
Preview = Annotated[
    bool, typer.Option("--preview", help="Watch it paint: a live page on 127.0.0.1 (its link is printed).")
]
Port = Annotated[
    Optional[int], typer.Option("--port", min=0, max=65535, help="Port of the --preview page (default: a free one).")
]


Content = Annotated[
    Path, typer.Argument(help="The photo to paint, or a video clip (any video ffmpeg reads) to paint frame by frame.")
]
Styles = Annotated[list[Path], typer.Argument(help="The painting whose style to use; several for a blend or a morph.")]
Out = Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder (default: runs/CONTENT-STYLE).")]
PresetName = Annotated[
    str,
    typer.Option("--preset", "-p", metavar="NAME|FILE", help="Built-in preset name or YAML file (see `presets list`)."),
]
Set = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set", metavar="KEY=VALUE", help="Override a preset key, e.g. --set loss_weights.style=1e5 (repeatable)."
    ),
]
Size = Annotated[Optional[int], typer.Option(help="Long edge of the painting in pixels.")]
Iterations = Annotated[
    Optional[int],
    typer.Option(
        help="Iterations at full size (coarse-to-fine presets add those of the smaller scales; the total is printed before painting)."
    ),
]
Start = Annotated[
    Optional[float], typer.Option(metavar="S", help="A clip: start S seconds into it (preset key clip.start).")
]
End = Annotated[Optional[float], typer.Option(metavar="S", help="A clip: end S seconds into it (clip.end).")]
Fps = Annotated[
    Optional[float],
    typer.Option(
        metavar="N", help="A clip: frames per second of the painted clip (default: the source's rate; clip.fps)."
    ),
]
Seed = Annotated[Optional[int], typer.Option(help="Random seed (a CPU render is reproducible).")]
Device = Annotated[
    Optional[str], typer.Option(metavar="auto|cpu|cuda|mps", help="Where to paint (auto prefers a GPU).")
]
Title = Annotated[Optional[str], typer.Option(help="Title shown in the video.")]
StyleBlend = Annotated[
    Optional[str],
    typer.Option(
        metavar="W1,W2,...",
        help="Each painting's share of the style when there are several, e.g. 0.7,0.3 (preset key style_blend).",
    ),
]
PreserveColor = Annotated[
    Optional[str],
    typer.Option(
        metavar="luminance|histogram",
        help="Keep the photo's colours: luminance (the style acts on brightness only) or histogram "
        "(the painting recoloured to the photo's colours first); preset key color.preserve.",
    ),
]
Masks = Annotated[
    Optional[str],
    typer.Option(
        metavar="MASK1,MASK2,...",
        help="A grey mask per painting, in their order: white where that painting's style goes, black "
        "where it does not (soft edges allowed, any size). Pixels no mask covers keep the photo.",
    ),
]
RegionMap = Annotated[
    Optional[Path],
    typer.Option(
        "--regions",
        metavar="MAP",
        help="One colour-coded map instead of masks: red, green, blue, ... for painting 1, 2, 3, ... "
        "(preset key regions.colors), black keeps the photo.",
    ),
]
Keep = Annotated[
    Optional[Path],
    typer.Option(metavar="MASK", help="A grey mask of what stays the photo (white), whatever the other masks say."),
]
RevealOption = Annotated[
    Optional[str],
    typer.Option(
        metavar="KIND|FILE",
        help="Paint that spreads: left-to-right, right-to-left, top-to-bottom, bottom-to-top, center-out, "
        "edges-in, regions (with masks: one after the other), or a grey paint-order image (dark first); "
        "preset key reveal.",
    ),
]
WeightsSource = Annotated[
    str,
    typer.Option(
        metavar="torchvision|random|PATH",
        envvar="TIMELAPSE_NST_WEIGHTS",
        show_envvar=True,
        help="VGG19 weights: torchvision (ImageNet, downloaded once), a .pth PATH, or random.",
    ),
]
Init = Annotated[
    Optional[str],
    typer.Option(
        metavar="content|style|noise|PATH",
        help="Where the painting starts: the photo (default), the painting, seeded noise, or an image "
        "file (preset key init).",
    ),
]
ContentWeight = Annotated[
    Optional[float], typer.Option(metavar="X", help="Weight of the content loss (preset key loss_weights.content).")
]
StyleWeight = Annotated[
    Optional[float], typer.Option(metavar="X", help="Weight of the style loss (preset key loss_weights.style).")
]
TvWeight = Annotated[
    Optional[float],
    typer.Option(metavar="X", help="Weight of the total-variation loss, smoothness (preset key loss_weights.tv)."),
]
Restart = Annotated[
    bool, typer.Option("--restart", help="Start over: move an existing run folder aside (never deleted).")
]
Memory = Annotated[
    Optional[str],
    typer.Option(
        metavar="SIZE",
        help="Memory the render may take, e.g. 12GB (default: the device's free memory); the memory "
        "plan tiles the scales that need more, and refuses a size that cannot fit at all.",
    ),
]


@dataclass(frozen=True)
class PaintOptions:
    """What ``render`` (and ``plan``) were given on the command line."""

    content: Path
    style: list[Path]
    out: Path | None = None
    preset: str = "classic"
    set_: list[str] | None = None
    size: int | None = None
    iterations: int | None = None
    start: float | None = None
    end: float | None = None
    fps: float | None = None
    seed: int | None = None
    device: str | None = None
    title: str | None = None
    style_blend: str | None = None
    preserve_color: str | None = None
    init: str | None = None
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float | None = None
    masks: str | None = None
    regions: Path | None = None
    keep: Path | None = None
    reveal: str | None = None
    weights: str = "torchvision"
    restart: bool = False
    memory: str | None = None
    no_video: bool = False
    publish: bool = False
    credit: str | None = None
    preview: bool = False
    port: int | None = None
    quiet: bool = False

    def overrides(self) -> list[str]:
        """The options that stand for preset keys, as overrides that errors name by their flag."""
        from timelapse_nst.settings.presets import Override

        overrides: list[str] = list(self.set_ or [])
        given = (
            ("seed", self.seed, "--seed"),
            ("device", self.device, "--device"),
            ("color.preserve", self.preserve_color, "--preserve-color"),
            ("loss_weights.content", self.content_weight, "--content-weight"),
            ("loss_weights.style", self.style_weight, "--style-weight"),
            ("loss_weights.tv", self.tv_weight, "--tv-weight"),
            ("clip.start", self.start, "--start"),
            ("clip.end", self.end, "--end"),
            ("clip.fps", self.fps, "--fps"),
        )
        overrides += [Override(key, value, label=f"{flag} {value}") for key, value, flag in given if value is not None]
        if self.init is not None:  # a JSON string is a YAML string: a path stays a path ("2024.png", "a: b.png")
            overrides.append(Override("init", json.dumps(self.init), label=f"--init {self.init}"))
        if self.style_blend is not None:
            blend = self.style_blend
            overrides.append(Override("style_blend", f"[{blend}]", label=f"--style-blend {blend}"))
        return overrides

    def mask_paths(self) -> list[Path]:
        """--masks a.png,b.png as paths."""
        return [Path(part.strip()) for part in (self.masks or "").split(",") if part.strip()]

    def out_folder(self) -> Path:
        """--out, or runs/CONTENT-STYLE."""
        return self.out or Path("runs") / f"{self.content.stem}-{'+'.join(path.stem for path in self.style)}"

    def memory_bytes(self) -> int | None:
        return parse_bytes(self.memory) if self.memory is not None else None


# Each field's typer declaration, and for ``plan`` why it refuses the ones a plan cannot use.
_DECLARATIONS: dict[str, Any] = {
    "content": Content,
    "style": Styles,
    "out": Out,
    "preset": PresetName,
    "set_": Set,
    "size": Size,
    "iterations": Iterations,
    "start": Start,
    "end": End,
    "fps": Fps,
    "seed": Seed,
    "device": Device,
    "title": Title,
    "style_blend": StyleBlend,
    "preserve_color": PreserveColor,
    "init": Init,
    "content_weight": ContentWeight,
    "style_weight": StyleWeight,
    "tv_weight": TvWeight,
    "masks": Masks,
    "regions": RegionMap,
    "keep": Keep,
    "reveal": RevealOption,
    "weights": WeightsSource,
    "restart": Restart,
    "memory": Memory,
    "no_video": NoVideo,
    "publish": Publish,
    "credit": Credit,
    "preview": Preview,
    "port": Port,
    "quiet": Quiet,
}
NOT_IN_A_PLAN = {
    "title": "only names the video",
    "no_video": "decides what happens after painting",
    "publish": "decides what happens after painting",
    "credit": "only goes into the video's tags",
    "preview": "watches a render that plan does not start",
    "port": "is the port of --preview",
    "masks": "decides where the paint goes",
    "regions": "decides where the paint goes",
    "keep": "decides where the paint goes",
    "reveal": "decides when the paint comes",
}


def with_paint_options(command: Callable[[PaintOptions], None]) -> Callable[..., None]:
    """``command(options)`` as a typer command that takes every paint option (declared once, above)."""

    @functools.wraps(command)
    def run(**values: Any) -> None:
        command(PaintOptions(**values))

    parameters = []
    for field in fields(PaintOptions):
        default = inspect.Parameter.empty if field.name in ("content", "style") else field.default
        parameters.append(
            inspect.Parameter(
                field.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=_DECLARATIONS[field.name]
            )
        )
    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    del run.__wrapped__  # typer reads the signature above, not the command's own
    return run


def refuse_what_plan_cannot_use(options: PaintOptions) -> None:
    """``plan`` honours every option that can change a plan; the others are refused, not ignored."""
    defaults = PaintOptions(options.content, options.style)
    for name, reason in NOT_IN_A_PLAN.items():
        if getattr(options, name) != getattr(defaults, name):
            flag = "--" + name.replace("_", "-")
            raise UserError(f"plan: {flag} {reason}, not the memory and disk a render takes; leave it out")


def parse_bytes(text: str) -> int:
    """``24GB``, ``512MB``, ``1.5G`` -> bytes (binary units, as the plan prints them)."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, flags=re.IGNORECASE)
    if not match or float(match[1]) <= 0:
        raise UserError(f"--memory {text}: expected a size like 24GB or 512MB")
    return int(float(match[1]) * 1024 ** "BKMGT".index((match[2] or "B").upper()))
