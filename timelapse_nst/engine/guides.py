"""Guided Gram matrices (Gatys et al. 2017, "Controlling Perceptual Factors"): a style per region,
regions kept as the photo, and the reveal's growing region.

A guide is a weight per pixel (0..1): how much a style counts there. Styles given the same mask
share a *region*: one guided Gram per layer serves them all, and their blend is taken within it.

1. **Carried to each layer the way the network shrinks the image**: a feature position's weight
   is the guide's mean over the stride x stride pixels it pools (a 2x2 mean at every pool, floored
   like VGG's pools). Departure: pystiche max-pools binary guides (a region grows by a cell at each
   pool) and genekogan's fork also blurs at each conv; the mean keeps a region's mass (its
   area) the same at every layer, so neighbouring regions do not swell into each other.
2. **Normalised by the region's mass**: G = Σ_p w_p f_p f_pᵀ / (C Σ_p w_p), the weighted mean of
   the region's outer products, comparable with the painting's Gram whatever the region's size
   (neural-style-tf divides by the whole image: small regions get weak style).
3. **Counted by its coverage** m/N in the style loss (the objective's part), so each pixel's
   style weight is w_p, as in a render of the whole image in that style.
4. **Every style gets gradient**: each region's Gram is its own node, no loss module is shared
   (neural-style-pt #46's multi-style bug).

Only the positions a region touches enter its Gram (gathered, then weighted by √w): two regions
that split the canvas cost one Gram's arithmetic between them, not two.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F

from timelapse_nst.engine import reveal as paint
from timelapse_nst.engine.objective import gram_matrix, style_loss
from timelapse_nst.settings.config import layer_stride
from timelapse_nst.settings.regions import BLACK, Reveal


@dataclass(frozen=True)
class LayerGuide:
    """One region at one layer: the positions it touches (flat, row-major in a grid ``width``
    wide) and the square roots of their weights; its mass Σw and the positions of the whole
    layer; ``full`` when it covers every position with weight 1 (then the plain Gram serves)."""

    index: torch.Tensor  # (n,) int64
    root: torch.Tensor  # (n,) float32
    mass: float
    positions: int
    width: int
    full: bool = False

    @property
    def coverage(self) -> float:
        """The region's share of the layer's positions (m/N)."""
        return self.mass / self.positions

    def within(self, rows: slice, cols: slice, origin: tuple[int, int], width: int) -> LayerGuide:
        """The part inside a tile's interior (``rows``, ``cols`` of the whole layer's grid), indexed
        in the tile's own grid (``width`` wide, its first position at ``origin`` of the whole grid)."""
        if self.full:
            return self
        ys, xs = self.index // self.width, self.index % self.width
        inside = (ys >= rows.start) & (ys < rows.stop) & (xs >= cols.start) & (xs < cols.stop)
        local = (ys[inside] - origin[0]) * width + (xs[inside] - origin[1])
        return LayerGuide(local, self.root[inside], self.mass, self.positions, width)


def carry(weights: torch.Tensor, layer: str) -> torch.Tensor:
    """Guides (R, H, W) at ``layer``: (R, H // s, W // s), each the mean of its s x s cell."""
    s = layer_stride(layer)
    return weights if s == 1 else F.avg_pool2d(weights.unsqueeze(1), s, s).squeeze(1)


def layer_guide(pooled: torch.Tensor) -> LayerGuide | None:
    """The guide of one region at one layer from its pooled weights (h, w); None when it is empty."""
    flat, width = pooled.flatten(), int(pooled.shape[-1])
    positions = flat.numel()
    if bool((flat == 1).all()):
        return LayerGuide(torch.empty(0, dtype=torch.int64), torch.empty(0), float(positions), positions, width, True)
    index = torch.nonzero(flat > 0).flatten()
    mass = float(flat[index].double().sum())
    if mass <= 0:
        return None
    return LayerGuide(index, flat[index].sqrt(), mass, positions, width)


@dataclass(frozen=True)
class Scatter:
    """Where the backward pass puts a batch's rows in a grid of ``positions``: for each position
    the first row that holds it (``len(index)``, a zero row, where none does), and the rows of
    the positions held twice or more (a soft edge shared by regions, a tile's overlap) with
    their positions, added on top. A gather, not a fill and a scatter: 2.5x (fp32) to 5x (bf16)
    faster at relu1_1 of a 256 px render."""

    first: torch.Tensor  # (positions,) int64
    extra_rows: torch.Tensor  # (e,) int64
    extra_positions: torch.Tensor  # (e,) int64


@dataclass(frozen=True)
class GuideBatch:
    """Several guides of one layer, gathered together: the positions of the partial ones in one
    index (their spans given by ``bounds``), so one gather serves them all and the backward pass
    fills one tensor of the whole layer's size, not one per guide.

    Within each span the rows of weight 1 and the soft ones (0 < w < 1) are kept apart, the soft
    ones last in one span and first in the next, so that the soft rows of two neighbouring guides
    (the strip two regions share) are one run (``soft_runs``), weighted by one product in place:
    about a third of the time of gathering them, weighing them and putting them back.

    (Tried: a guide whose rows of weight 1 fill a rectangle of the grid, as a half of the canvas
    does, copied as a slice of the layer instead of gathered. No faster on CPU: a (192, 127, 64)
    bf16 slice copies in about the time its rows gather (0.25 ms), and the backward pass needs
    them contiguous for its product all the same.)"""

    guides: tuple[LayerGuide, ...]
    index: torch.Tensor  # (n,) int64, every partial guide's positions one after the other
    root: torch.Tensor  # (n,) float32
    bounds: tuple[int, ...]  # the partial guides' spans in index: bounds[k]..bounds[k + 1]
    soft: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.int64))  # rows with root < 1
    soft_runs: tuple[tuple[int, int], ...] = ()  # the soft rows as runs a..b of consecutive rows
    roots: dict[torch.dtype, tuple[torch.Tensor, ...]] = field(default_factory=dict, compare=False, repr=False)
    scatters: dict[int, Scatter] = field(default_factory=dict, compare=False, repr=False)  # per grid size

    def scatter(self, positions: int) -> Scatter:
        """The backward pass's map into a grid of ``positions`` (made once per grid size)."""
        if positions not in self.scatters:
            order = torch.argsort(self.index, stable=True)  # rows by position, then by row
            held = self.index[order]
            first = torch.ones_like(held, dtype=torch.bool)
            first[1:] = held[1:] != held[:-1]
            rows = torch.full((positions,), len(self.index), dtype=torch.int64, device=self.index.device)
            rows[held[first]] = order[first]
            self.scatters[positions] = Scatter(rows, order[~first], held[~first])
        return self.scatters[positions]

    def soft_roots(self, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """Each soft run's roots, (b - a, 1) in ``dtype`` (made once per dtype)."""
        if dtype not in self.roots:
            self.roots[dtype] = tuple(self.root[a:b, None].to(dtype) for a, b in self.soft_runs)
        return self.roots[dtype]


def _runs(spans: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Spans a..b of rows, touching ones merged, empty ones left out."""
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if b <= a:
            continue
        if out and out[-1][1] == a:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return tuple(out)


def batch_guides(guides: Sequence[LayerGuide]) -> GuideBatch:
    partial = [guide for guide in guides if not guide.full]
    if not partial:
        return GuideBatch(tuple(guides), torch.empty(0, dtype=torch.int64), torch.empty(0), (0,))
    bounds, indexes, roots, softs = [0], [], [], []
    for k, guide in enumerate(partial):
        # Rows of weight 1 are taken as they are: only a soft edge's rows are weighted.
        hard = guide.root == 1
        parts = [(hard, False), (~hard, True)]
        offset = bounds[-1]
        for keep, soft in parts if k % 2 == 0 else parts[::-1]:
            index = guide.index[keep]
            if soft:
                softs.append((offset, offset + index.numel()))
            indexes.append(index)
            roots.append(guide.root[keep])
            offset += index.numel()
        bounds.append(offset)
    index, root = torch.cat(indexes), torch.cat(roots)
    soft_runs = _runs(softs)
    soft = torch.cat([torch.arange(a, b, device=index.device) for a, b in soft_runs] or [index[:0]])
    return GuideBatch(tuple(guides), index, root, tuple(bounds), soft, soft_runs)


def guided_grams(
    features: torch.Tensor, batch: GuideBatch, *, interior: tuple[slice, slice] | None = None
) -> list[torch.Tensor]:
    """Each guide's Σ_p w_p f_p f_pᵀ / (C·m) over its positions of ``features`` (1, C, h, w), in
    the batch's order: (1, C, C) fp32 each.

    A tile passes its whole activation and the interior it owns: a full guide takes the plain
    Gram of the interior, scaled to the whole layer's mass; partial ones gather their positions.
    """
    channels = features.shape[1]
    partial = [guide for guide in batch.guides if not guide.full]
    grams: tuple[torch.Tensor, ...] = ()
    if partial:
        scales = tuple(channels * guide.mass for guide in partial)
        grams = _GuidedGrams.apply(features, batch, scales)
    out, taken = [], iter(grams)
    for guide in batch.guides:
        if guide.full:
            part = features if interior is None else features[..., interior[0], interior[1]]
            out.append(gram_matrix(part) * (part.shape[-2] * part.shape[-1] / guide.mass))
        else:
            out.append(next(taken))
    return out


def guided_gram(
    features: torch.Tensor, guide: LayerGuide, *, interior: tuple[slice, slice] | None = None
) -> torch.Tensor:
    """One guide's Gram (see ``guided_grams``)."""
    return guided_grams(features, batch_guides([guide]), interior=interior)[0]


def _rows(features: torch.Tensor) -> torch.Tensor:
    """(1, C, h, w) -> (h·w, C), row-major positions: a view of channels_last activations."""
    return features[0].permute(1, 2, 0).reshape(-1, features.shape[1])


def _weigh(rows: torch.Tensor, batch: GuideBatch) -> torch.Tensor:
    """``rows`` (n, C) of ``batch``, each times its root, in place: only the soft runs are touched."""
    for (a, b), root in zip(batch.soft_runs, batch.soft_roots(rows.dtype), strict=True):
        rows[a:b].mul_(root)
    return rows


class _GuidedGrams(torch.autograd.Function):
    """R_kᵀR_k / scale_k for consecutive spans R_k of the weighted rows R = √w·F[index] (fp32,
    one (1, C, C) output each). Hand-written backward, like ``gram_matrix``'s: one matrix product
    per span instead of autograd's two, and the gradient gathered straight into one tensor of
    the activations' size and layout (``Scatter``). Autograd's gather, weighting and stacking
    would each make another tensor of that size; those allocations, not the arithmetic, made
    the guided Grams cost 3x the plain."""

    @staticmethod
    def forward(
        ctx: Any, features: torch.Tensor, batch: GuideBatch, scales: tuple[float, ...]
    ) -> tuple[torch.Tensor, ...]:
        picked = _weigh(_rows(features).index_select(0, batch.index), batch)
        ctx.save_for_backward(picked)
        ctx.batch, ctx.scales, ctx.shape = batch, scales, features.shape
        ctx.channels_last = features.is_contiguous(memory_format=torch.channels_last)
        picked32 = picked.to(torch.promote_types(picked.dtype, torch.float32))
        spans = zip(batch.bounds, batch.bounds[1:], scales, strict=False)
        return tuple((picked32[a:b].T @ picked32[a:b]).div_(scale).unsqueeze_(0) for a, b, scale in spans)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (picked,) = ctx.saved_tensors
        batch: GuideBatch = ctx.batch
        channels = ctx.shape[1]
        # Each span's rows' gradient (G' + G'ᵀ)/scale applied to them, into one buffer whose
        # last row is zero (the positions no guide holds read it), then put in place.
        rows = torch.empty((picked.shape[0] + 1, channels), dtype=picked.dtype, device=picked.device)
        rows[-1].zero_()
        for grad, a, b, scale in zip(grads, batch.bounds, batch.bounds[1:], ctx.scales, strict=False):
            sym = (grad[0] + grad[0].T).div_(scale).to(picked.dtype)
            torch.mm(picked[a:b], sym, out=rows[a:b])
        return _placed(rows, batch, ctx.shape, channels_last=ctx.channels_last), None, None


def _placed(rows: torch.Tensor, batch: GuideBatch, shape: torch.Size, *, channels_last: bool) -> torch.Tensor:
    """The gradient of the activations (``shape``) from that of the batch's weighted rows: ``rows``
    holds one more row, zero, for the positions no guide holds. Each row is weighted by its root,
    then gathered into the layer's positions; positions held more than once add the rest."""
    _, channels, height, width = shape
    _weigh(rows[:-1], batch)
    scatter = batch.scatter(height * width)
    out = rows.index_select(0, scatter.first)
    if scatter.extra_rows.numel():
        out.index_add_(0, scatter.extra_positions, rows.index_select(0, scatter.extra_rows))
    out = out.view(1, height, width, channels).permute(0, 3, 1, 2)  # channels_last
    return out if channels_last else out.contiguous()


Terms = Sequence[tuple[float, torch.Tensor]]
"""What a guide's Gram is scored against: (coefficient, target Gram (1, C, C)) per style."""


def guided_style_loss(features: torch.Tensor, batch: GuideBatch, terms: Sequence[Terms]) -> torch.Tensor:
    """Σ over the batch's guides k and their ``terms[k]`` (c, T) of c·‖G_k − T‖², G_k each
    guide's Gram (``guided_grams``) of ``features`` (1, C, h, w): a 0-dim fp32 tensor.

    The style loss of one layer in one node: no Gram is kept, only its difference from the
    target, already in the activations' dtype for the backward pass (see ``_GuidedStyle``)."""
    channels = features.shape[1]
    losses = []
    partial: list[Terms] = []
    for guide, scored in zip(batch.guides, terms, strict=True):
        if not guide.full:
            partial.append(scored)
        elif scored:  # the plain Gram of the whole layer, scaled to the guide's mass
            gram = gram_matrix(features) * (features.shape[-2] * features.shape[-1] / guide.mass)
            losses += [coef * style_loss(gram, target) for coef, target in scored]
    if any(partial):
        scales = tuple(channels * guide.mass for guide in batch.guides if not guide.full)
        losses.append(_GuidedStyle.apply(features, batch, scales, tuple(partial)))
    return sum(losses[1:], start=losses[0]) if losses else torch.zeros((), device=features.device)


class _GuidedStyle(torch.autograd.Function):
    """``guided_style_loss`` of the partial guides, with ``_GuidedGrams``'s gather and backward.

    Why one node: at the deep layers (C = 512) a Gram, its loss and their gradients are several
    passes over C x C matrices each (the MSE and its backward, G' + G'ᵀ, the scale, the cast),
    and each region repeats them. Here one product writes G − T (addmm: Rᵀ R / scale − T), the
    loss is its dot with itself, and as dL/dG = 2c(G − T) is symmetric like G and T, the rows'
    gradient is R (G − T) times 4c / scale: one cast kept from the forward pass, one product,
    and the factor taken on the smaller of R (G − T) and G − T.
    (Autograd's G' + G'ᵀ is taken as 2G': equal but for rounding.)"""

    @staticmethod
    def forward(
        ctx: Any, features: torch.Tensor, batch: GuideBatch, scales: tuple[float, ...], terms: tuple[Terms, ...]
    ) -> torch.Tensor:
        picked = _weigh(_rows(features).index_select(0, batch.index), batch)
        picked32 = picked.to(torch.promote_types(picked.dtype, torch.float32))
        losses = []
        slopes: list[tuple[torch.Tensor, float] | None] = []  # per guide: G − T and its factor, or none
        for (a, b), scale, scored in zip(pairwise(batch.bounds), scales, terms, strict=True):
            if not scored:  # no style of this guide's region counts now: no gradient either
                slopes.append(None)
                continue
            rows = picked32[a:b]
            if len(scored) == 1:
                coef, target = scored[0]
                slope = torch.addmm(target[0], rows.T, rows, beta=-1, alpha=1 / scale)  # G − T
                losses.append(torch.dot(slope.view(-1), slope.view(-1)).mul_(coef))
                factor = 4 * coef / scale
            else:  # styles sharing the region: the gradient is Σ 4c(G − T) / scale
                gram = torch.mm(rows.T, rows).div_(scale)
                slope = torch.zeros_like(gram)
                for coef, target in scored:
                    diff = gram - target[0]
                    losses.append(torch.dot(diff.view(-1), diff.view(-1)).mul_(coef))
                    slope.add_(diff, alpha=4 * coef)
                factor = 1 / scale
            slopes.append((slope.to(picked.dtype), factor))
        ctx.save_for_backward(picked)
        ctx.batch, ctx.slopes, ctx.shape = batch, slopes, features.shape
        ctx.channels_last = features.is_contiguous(memory_format=torch.channels_last)
        return torch.stack(losses).sum() if len(losses) > 1 else losses[0]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        (picked,) = ctx.saved_tensors
        batch: GuideBatch = ctx.batch
        channels = picked.shape[1]
        rows = torch.empty((picked.shape[0] + 1, channels), dtype=picked.dtype, device=picked.device)
        rows[-1].zero_()
        for slope, (a, b) in zip(ctx.slopes, pairwise(batch.bounds), strict=True):
            if slope is None:
                rows[a:b].zero_()
            elif b - a < channels:  # fewer rows than channels: the factor on the product
                torch.mm(picked[a:b], slope[0], out=rows[a:b]).mul_(grad * slope[1])
            else:
                torch.mm(picked[a:b], slope[0] * (grad * slope[1]), out=rows[a:b])
        ctx.slopes = None
        return _placed(rows, batch, ctx.shape, channels_last=ctx.channels_last), None, None, None


@dataclass
class GuidesAt:
    """The guides of one moment. A region's Gram is taken in *parts* (a reveal's bands, see
    ``Guides``; one part without a reveal): per part, its guide at each style layer it reaches
    (a layer missing: empty there now, or merged into a neighbouring band's part); each style's
    region, and each region's parts."""

    parts: tuple[dict[str, LayerGuide], ...]
    style_regions: tuple[int, ...]
    region_parts: tuple[tuple[int, ...], ...]
    batches: dict[str, tuple[tuple[int, ...], GuideBatch]] = field(default_factory=dict)  # per layer
    tiles: dict[Any, tuple[tuple[int, ...], GuideBatch]] = field(default_factory=dict)  # per layer and tile

    def shares(self, blend: Sequence[float]) -> tuple[float, ...]:
        """Each style's share of its region's style: the blend taken within the region, so a style
        alone in its region counts fully."""
        totals = [0.0] * len(self.region_parts)
        for region, weight in zip(self.style_regions, blend, strict=True):
            totals[region] += weight
        return tuple(w / totals[r] if totals[r] > 0 else 0.0 for r, w in zip(self.style_regions, blend, strict=True))

    def parts_of(self, style: int) -> tuple[int, ...]:
        return self.region_parts[self.style_regions[style]]

    def coverage(self, part: int, layer: str) -> float:
        guide = self.parts[part].get(layer)
        return 0.0 if guide is None else guide.coverage

    def grams(self, acts: Mapping[str, torch.Tensor], layers: Iterable[str]) -> list[dict[str, torch.Tensor]]:
        """Each part's guided Gram at each of ``layers`` it reaches."""
        out: list[dict[str, torch.Tensor]] = [{} for _ in self.parts]
        for name in layers:
            slots, batch = self.batch(name)
            for part, gram in zip(slots, guided_grams(acts[name], batch) if slots else [], strict=True):
                out[part][name] = gram
        return out

    def terms(
        self, layer: str, weight: float, targets: Sequence[Mapping[str, torch.Tensor]], shares: Sequence[float]
    ) -> tuple[tuple[int, ...], list[list[tuple[float, torch.Tensor]]]]:
        """The parts that reach ``layer`` and, per part, what its Gram there is scored against:
        (share_s · ``weight`` · coverage, T_s) for each style s of its region that counts now.
        The one statement of the guided style loss; ``style_loss`` and the objective's
        ``style_from_grams`` (tiles) both sum c·‖G − T‖² over it."""
        slots, _ = self.batch(layer)
        return slots, [
            [
                (share * weight * self.coverage(part, layer), target[layer])
                for share, region, target in zip(shares, self.style_regions, targets, strict=True)
                if share > 0 and part in self.region_parts[region]
            ]
            for part in slots
        ]

    def style_loss(
        self,
        acts: Mapping[str, torch.Tensor],
        layers: Mapping[str, float],
        targets: Sequence[Mapping[str, torch.Tensor]],
        blend: Sequence[float],
    ) -> torch.Tensor | None:
        """The style loss over ``terms``, each layer's Grams and losses in one node
        (``guided_style_loss``). None: no term."""
        shares = self.shares(blend)
        total: torch.Tensor | None = None
        for name, weight in layers.items():
            _, terms = self.terms(name, weight, targets, shares)
            if any(terms):
                loss = guided_style_loss(acts[name], self.batch(name)[1], terms)
                total = loss if total is None else total + loss
        return total

    def batch(self, layer: str) -> tuple[tuple[int, ...], GuideBatch]:
        """The parts that reach ``layer``, and their guides there as one batch (made once)."""
        if layer not in self.batches:
            slots = tuple(p for p, part in enumerate(self.parts) if layer in part)
            self.batches[layer] = (slots, batch_guides([self.parts[p][layer] for p in slots]))
        return self.batches[layer]

    def in_tile(
        self, layer: str, key: Any, cut: tuple[slice, slice, tuple[int, int], int]
    ) -> tuple[tuple[int, ...], GuideBatch]:
        """The parts with positions in a tile's interior at ``layer`` and their guides there, as a
        batch indexed in the tile's own grid (``key`` names the tile for the cache)."""
        if (layer, key) not in self.tiles:
            slots, inside = [], []
            for part in (p for p, guides in enumerate(self.parts) if layer in guides):
                guide = self.parts[part][layer].within(*cut)
                if guide.full or guide.index.numel():
                    slots.append(part)
                    inside.append(guide)
            self.tiles[layer, key] = (tuple(slots), batch_guides(inside))
        return self.tiles[layer, key]


MIN_PART_MASS = 1.0
"""A band's part has at least this many feature positions' worth of mass when fully painted;
thinner bands (a small image) are merged with the next ones."""
BAND_STRIDE = 2
"""Bands at the layers of stride 1 and 2 (relu1_x, relu2_x: colour and fine strokes, where the
over-painting showed); deeper layers take each region's revealed area whole (measured: the same
sweep, at half the cost)."""


def band_count(reveal: Reveal | None) -> int:
    """How many bands a reveal's Gram is taken in: enough that the soft edge spans a band (then
    a band's pixels rise together), at most one per step; 1 for no reveal or kind regions."""
    if reveal is None or reveal.kind == "regions":
        return 1
    return reveal.steps if reveal.edge <= 0 else min(reveal.steps, math.ceil(1.0 / reveal.edge))


class Guides:
    """Each style's guide at one size (the content's), per style layer, at any moment of a reveal.

    ``masks`` (S, H, W) in 0..1, one per style (None: every style paints the whole canvas);
    ``keep`` (H, W): where the photo stays (1) whatever the masks say; ``reveal`` and, for kind
    ``order``, its grey ``order`` image (H, W). The guides of the latest moment are kept.

    ``hold`` (1, 1, H, W) is how much of each pixel no style paints (None: the styles cover the
    canvas). The objective holds those pixels at the photo's values. Departure: Gatys et al.
    leave them to the content and TV terms alone, but the deep layers see far (relu5_1: ~200 px)
    and carry a neighbouring region's style into them (10 levels on average over a 96 px render
    with random weights); held, a kept face is the photo's.

    While a reveal runs, each region's Gram at the shallow layers is taken band by band along the
    paint order (``band_count`` bands), each band matched to the painting on its own. Why: one
    Gram over the growing area is matched first by the thin strip revealed first, whose pixels
    then carry the largest gradients and keep being pushed as the area grows; measured over a
    64 px left-to-right sweep, the first eighth ended 2.5x as far from the photo as without a
    reveal and the last 0.7x; in bands, each eighth within 1.3x. Once the reveal is over, each
    region is one part again (every band already matches, so the whole does).
    """

    def __init__(
        self,
        masks: torch.Tensor | None,
        layers: Iterable[str],
        size: tuple[int, int],
        *,
        keep: torch.Tensor | None = None,
        reveal: Reveal | None = None,
        order: torch.Tensor | None = None,
        styles: int = 1,
        device: torch.device | None = None,
    ) -> None:
        height, width = size
        self.device = device or torch.device("cpu")
        self.layers = list(layers)
        self.reveal = reveal
        if masks is None:
            masks = torch.ones((styles, height, width))
        masks = torch.where(masks < BLACK, torch.zeros_like(masks), masks.float())
        spans = reveal.spans(len(masks)) if reveal is not None else [(0.0, 1.0)] * len(masks)
        # 1. Styles with the same mask and the same reveal times share a region (one Gram).
        self.regions, self.spans, self.style_regions = _shared(masks, spans)
        # 2. Where regions overlap they share the pixel; a kept pixel belongs to none.
        total = self.regions.sum(0)
        self.regions = self.regions / total.clamp(min=1.0)
        if keep is not None:
            self.regions = self.regions * (1.0 - keep.float().clamp(0, 1))
        # 3. What no style paints stays the photo: held there (see ``hold``).
        unpainted = 1.0 - self.regions.sum(0).clamp(max=1.0)
        self.hold = unpainted.view(1, 1, height, width).to(self.device) if bool((unpainted > 0).any()) else None
        # 4. The order in which the reveal paints the pixels, and its bands.
        self.order = None if reveal is None else paint.paint_order(reveal, height, width, order)
        self.count = band_count(reveal)
        self.bands = None if self.count == 1 else (self.order * self.count).long().clamp(max=self.count - 1)  # type: ignore[operator]
        self.groups = {name: [self._group(region, name) for region in self.regions] for name in self.layers}
        self._cached: tuple[float | None, GuidesAt] | None = None

    def at(self, clock: float | None) -> GuidesAt:
        """The guides at the render's time ``clock`` (a fraction; None: no reveal, or over)."""
        if self._cached is None or self._cached[0] != clock:
            over = self.reveal is None or clock is None or all(paint.progress(clock, s) >= 1 for s in self.spans)
            self._cached = (clock, self._compute(self.weights(clock), banded=not over))
        return self._cached[1]

    def weights(self, clock: float | None) -> torch.Tensor:
        """Each region's pixel weights (R, H, W) at ``clock``."""
        if self.reveal is None or clock is None:
            return self.regions
        layers = []
        for region, span in zip(self.regions, self.spans, strict=True):
            done = paint.progress(clock, span)
            if self.reveal.kind == "regions":  # the region fades in as a whole
                layers.append(region * done)
            else:
                layers.append(region * paint.weights_at(self.order, done, self.reveal.edge))  # type: ignore[arg-type]
        return torch.stack(layers)

    def masses(self) -> dict[str, list[float]]:
        """Each style's region's mass at each style layer when fully painted, in feature positions."""
        pooled = {n: carry(self.regions, n).flatten(1).double().sum(1).tolist() for n in self.layers}
        return {n: [pooled[n][r] for r in self.style_regions] for n in self.layers}

    def _band(self, weights: torch.Tensor, first: int, last: int) -> torch.Tensor:
        """``weights`` (H, W) within bands ``first``..``last``."""
        if self.bands is None or (first, last) == (0, self.count - 1):
            return weights
        return weights * ((self.bands >= first) & (self.bands <= last))

    def _group(self, region: torch.Tensor, layer: str) -> list[tuple[int, int]]:
        """The region's bands (first, last) that make the parts of its Gram at ``layer``: each band
        alone at the shallow layers, merged with the next ones until it has ``MIN_PART_MASS``;
        all of them together at deeper layers."""
        if self.count == 1 or layer_stride(layer) > BAND_STRIDE:
            return [(0, self.count - 1)]
        groups: list[tuple[int, int]] = []
        mass = 0.0
        for band in range(self.count):
            here = float(carry(self._band(region, band, band)[None], layer).double().sum())
            if groups and mass < MIN_PART_MASS:
                groups[-1] = (groups[-1][0], band)
                mass += here
            elif here > 0:
                groups.append((band, band))
                mass = here
        if len(groups) > 1 and mass < MIN_PART_MASS:  # a thin last part joins the one before
            groups[-2:] = [(groups[-2][0], groups[-1][1])]
        return groups

    def _compute(self, weights: torch.Tensor, *, banded: bool) -> GuidesAt:
        """The parts' guides: region r's parts are slots r·count + their first band."""
        parts: list[dict[str, LayerGuide]] = [{} for _ in range(len(weights) * self.count)]
        for name in self.layers:
            for region, groups in enumerate(self.groups[name]):
                for first, last in groups if banded else [(0, self.count - 1)]:
                    guide = layer_guide(carry(self._band(weights[region], first, last)[None], name)[0])
                    if guide is not None:  # the positions live where the activations do
                        parts[region * self.count + first][name] = dataclasses.replace(
                            guide, index=guide.index.to(self.device), root=guide.root.to(self.device)
                        )
        region_parts = tuple(tuple(range(r * self.count, (r + 1) * self.count)) for r in range(len(weights)))
        return GuidesAt(tuple(parts), self.style_regions, region_parts)


def _shared(
    masks: torch.Tensor, spans: Sequence[tuple[float, float]]
) -> tuple[torch.Tensor, list[tuple[float, float]], tuple[int, ...]]:
    """Distinct (mask, span) pairs as regions, and each style's region."""
    distinct: list[int] = []
    style_regions = []
    for style in range(len(masks)):
        same = next(
            (
                k
                for k, first in enumerate(distinct)
                if spans[first] == spans[style] and torch.equal(masks[first], masks[style])
            ),
            None,
        )
        if same is None:
            distinct.append(style)
            same = len(distinct) - 1
        style_regions.append(same)
    return masks[distinct].clone(), [spans[k] for k in distinct], tuple(style_regions)
