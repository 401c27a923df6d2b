"""Flash frames: each preset's worst rise of the objective from one iteration's picture to the next.

Every built-in preset (but the GPU-only ``youtube-4k``, which paints what ``classic`` paints)
renders each photo/painting pair at each size; the figure of a render is its worst rise: the
largest ``objective(image N) / objective(image N-1) - 1`` over the iterations. Objectives come
from log.jsonl, which holds the seed's exact objective of the image each line names
(``losses_of``), as unweighted parts: both images are priced with the weights of the later
line, so a scheduled weight that rises (``slow-reveal``) is not taken for a flash. Where the
blend of styles moves (``style-morph``), the targets themselves change and the pair of lines is
not compared; a new scale starts a new comparison. The bar is 5%.

    python -m timelapse_nst.bench.flash --sizes 128,256 --iterations 30 PHOTO:PAINTING ...

Random weights are valid here: a flash is an optimiser's overshoot, not a matter of taste.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.runfolder.log import LogEntry, read_log

RISE_LIMIT = 0.05
PRESETS = ("classic", "quick-preview", "slow-reveal", "from-noise", "adam", "high-detail", "style-morph", "demo")


@dataclass(frozen=True)
class FlashRow:
    preset: str
    pair: str
    size: int
    iterations: int
    compared: int  # pairs of consecutive images compared
    worst_rise: float  # the largest relative rise (negative: the objective fell at every step)
    at: int  # the iteration of the worse image

    @property
    def flashes(self) -> bool:
        return self.worst_rise > RISE_LIMIT


def worst_rise(entries: Sequence[LogEntry]) -> tuple[float, int, int]:
    """(worst relative rise, the iteration where it is, how many steps were compared)."""
    worst, at, compared = float("-inf"), 0, 0
    for before, after in itertools.pairwise(entries):
        if before.scale != after.scale or before.blend != after.blend:
            continue
        rise = _price(after, after.loss_weights) / _price(before, after.loss_weights) - 1
        compared += 1
        if rise > worst:
            worst, at = rise, after.iteration
    return worst, at, compared


def _price(entry: LogEntry, weights: Mapping[str, float]) -> float:
    return sum(weights[name] * entry.losses[name] for name in ("content", "style", "tv"))


def measure_flash(
    pairs: Sequence[tuple[Path, Path]],
    sizes: Sequence[int],
    *,
    iterations: int = 30,
    presets: Sequence[str] = PRESETS,
    weights: str = "random",
    work: Path | None = None,
) -> list[FlashRow]:
    """Render every preset x pair x size (``make_video=False``) and read its worst rise."""
    from timelapse_nst import api

    rows = []
    steps = [f"optimizer.iterations={iterations}", "checkpoint.every_iterations=1000000"]
    paint = functools.partial(api.render, overrides=steps, weights=weights, make_video=False)
    with tempfile.TemporaryDirectory(prefix="timelapse-nst-flash-", dir=work) as tmp:
        for size in sizes:
            for index, (photo, painting) in enumerate(pairs):
                name = f"{photo.stem}-{painting.stem}"
                for preset in presets:
                    styles = [painting]
                    if preset == "style-morph":  # two paintings: the next pair's is the second
                        styles.append(pairs[(index + 1) % len(pairs)][1])
                    out = Path(tmp) / f"{size}-{name}-{preset}"
                    paint(photo, styles, out=out, preset=preset, size=size)
                    rise, at, compared = worst_rise(read_log(RunFolder(out).log))
                    rows.append(FlashRow(preset, name, size, iterations, compared, rise, at))
    return rows


def to_markdown(rows: Sequence[FlashRow]) -> str:
    presets = list(dict.fromkeys(row.preset for row in rows))
    columns = list(dict.fromkeys((row.pair, row.size) for row in rows))
    cells = {(row.preset, row.pair, row.size): row for row in rows}
    head = "| preset | " + " | ".join(f"{pair} {size} px" for pair, size in columns) + " |"
    lines = [head, "|---|" + "---:|" * len(columns)]
    for preset in presets:
        values = []
        for pair, size in columns:
            row = cells.get((preset, pair, size))
            values.append("" if row is None else f"{row.worst_rise:+.1%}" + (" (flash)" if row.flashes else ""))
        lines.append(f"| {preset} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m timelapse_nst.bench.flash", description=__doc__.split("\n")[0])
    parser.add_argument("pairs", nargs="+", help="PHOTO:PAINTING")
    parser.add_argument("--sizes", default="128,256")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--weights", default="random")
    args = parser.parse_args(argv)
    pairs = [tuple(Path(part) for part in pair.split(":", 1)) for pair in args.pairs]
    rows = measure_flash(
        pairs,  # type: ignore[arg-type]
        [int(size) for size in args.sizes.split(",")],
        iterations=args.iterations,
        weights=args.weights,
    )
    print(to_markdown(rows))
    flashing = [row for row in rows if row.flashes]
    print(
        f"\nworst rise {max(row.worst_rise for row in rows):+.1%} over {len(rows)} renders; "
        f"{len(flashing)} above the {RISE_LIMIT:.0%} bar"
    )
    return 1 if flashing else 0


if __name__ == "__main__":
    raise SystemExit(main())
