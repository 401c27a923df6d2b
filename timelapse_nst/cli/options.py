"""The options shared by ``render``, ``resume`` and ``plan``: one name per concept, as in presets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or notes (errors still print).")]
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


Content = Annotated[Path, typer.Argument(help="The photo to paint.")]
Styles = Annotated[list[Path], typer.Argument(help="The painting whose style to use; several for a blend or a morph.")]
Out = Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder (default: runs/CONTENT-STYLE).")]
PresetName = Annotated[
    str,
    typer.Option("--preset", "-p", metavar="NAME|FILE", help="Built-in preset name or YAML file (see `presets list`)."),
]
Set = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set", metavar="KEY=VALUE", help="Override a preset key, e.g. --set weights.style=1e5 (repeatable)."
    ),
]
Size = Annotated[Optional[int], typer.Option(help="Long edge of the painting in pixels.")]
Iterations = Annotated[
    Optional[int],
    typer.Option(
        help="Iterations at full size (coarse-to-fine presets add those of the smaller scales; the total is printed before painting)."
    ),
]
Seed = Annotated[Optional[int], typer.Option(help="Random seed (a CPU render is reproducible).")]
Device = Annotated[
    Optional[str], typer.Option(metavar="auto|cpu|cuda|mps", help="Where to paint (auto prefers a GPU).")
]
Title = Annotated[Optional[str], typer.Option(help="Title shown in the video.")]
StyleWeights = Annotated[
    Optional[str],
    typer.Option(
        metavar="W1,W2,...",
        help="Weight of each painting when there are several, e.g. 0.7,0.3 (preset key style_blend).",
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
WeightsSource = Annotated[
    str,
    typer.Option(
        metavar="torchvision|random|PATH",
        envvar="TIMELAPSE_NST_WEIGHTS",
        show_envvar=True,
        help="VGG19 weights: torchvision (ImageNet, downloaded once), a .pth PATH, or random.",
    ),
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
