"""Colour control: keep the photo's colours (Gatys et al. 2017, "Controlling Perceptual Factors in
Neural Style Transfer"). Pure tensor functions; images are (1, 3, H, W), RGB, 0..255.

Two ways, as in the paper:

- ``luminance``: the style acts on luminance only. The network sees the luminance of the image
  (replicated to three channels); the style's luminance is first matched to the photo's mean and
  deviation; the picture shown is that luminance with the photo's chroma put back (YCbCr).
- ``histogram``: the style image's colours are matched to the photo's before optimising: mean and
  covariance of the RGB distribution (the symmetric square-root transform of the paper), then a
  per-channel histogram match on top.

``amount`` (0..1) blends each mode with plain colour transfer, so it may follow a schedule: a
timelapse can open in the photo's colours and let the painting's colours flow in.
"""

from __future__ import annotations

import torch

# ITU-R BT.601 full range (JPEG's YCbCr): Y, Cb, Cr from R, G, B.
_RGB_TO_YCBCR = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.168735892, -0.331264108, 0.5],
        [0.5, -0.418687589, -0.081312411],
    ]
)
_CHROMA_OFFSET = 128.0
_ROUNDS = 3  # moment/marginal rounds of the histogram match (measured: 3 keep the covariance within ~1%)


def rgb_to_ycbcr(image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB 0..255 -> Y, Cb, Cr (0..255, chroma centred on 128)."""
    matrix = _RGB_TO_YCBCR.to(image)
    out = torch.einsum("ij,njhw->nihw", matrix, image)
    return out + torch.tensor([0.0, _CHROMA_OFFSET, _CHROMA_OFFSET]).to(image).view(1, 3, 1, 1)


def ycbcr_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """The inverse of ``rgb_to_ycbcr`` (no clamping)."""
    centred = image - torch.tensor([0.0, _CHROMA_OFFSET, _CHROMA_OFFSET]).to(image).view(1, 3, 1, 1)
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(_RGB_TO_YCBCR.double()).to(image), centred)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) luminance Y of an RGB image."""
    weights = _RGB_TO_YCBCR[0].to(image).view(1, 3, 1, 1)
    return (image * weights).sum(dim=1, keepdim=True)


def gray(image: torch.Tensor) -> torch.Tensor:
    """The image's luminance replicated to three channels: what the network sees in luminance mode."""
    return luminance(image).expand(-1, 3, -1, -1)


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The style's luminance (as a 3-channel gray image) shifted and scaled to the photo's mean
    and standard deviation, so the style brings texture, not its own brightness (paper, eq. 6)."""
    ys, yc = luminance(style), luminance(content)
    scale = yc.std() / ys.std().clamp_min(1e-6)
    return ((ys - ys.mean()) * scale + yc.mean()).expand(-1, 3, -1, -1)


def match_color(style: torch.Tensor, content: torch.Tensor, *, histogram: bool = True) -> torch.Tensor:
    """The style image recoloured to the photo's colour statistics, 0..255.

    1. Mean and covariance: x' = A (x - mu_s) + mu_c with A = Cc^1/2 Cs^-1/2 (symmetric square roots),
       so that Cov(x') = Cc exactly; the symmetric root turns colours least (the paper's choice).
    2. Optionally a per-channel histogram match to the photo's marginals on top, which also
       matches the shape of each channel's distribution, not only its first two moments (then
       the moments once more, so they stay exact).
    """
    pixels_s = style.flatten(2)[0].double()  # (3, Ns)
    pixels_c = content.flatten(2)[0].double()
    matched = _match_moments(pixels_s, pixels_c)
    if histogram:
        # Alternating: each marginal step nudges the cross-covariances, each moment step the
        # marginals; a few rounds agree on both. Ending on the marginals keeps every value
        # inside the photo's own range, so no clamp bends the statistics afterwards.
        references = torch.sort(pixels_c, dim=1).values
        for _ in range(_ROUNDS):
            matched = _match_moments(_match_marginals(matched, references), pixels_c)
        matched = _match_marginals(matched, references)
    return matched.clamp(0, 255).to(style.dtype).view_as(style)


def _match_moments(pixels_s: torch.Tensor, pixels_c: torch.Tensor) -> torch.Tensor:
    mu_s, mu_c = pixels_s.mean(1, keepdim=True), pixels_c.mean(1, keepdim=True)
    transform = _sqrtm(_covariance(pixels_c)) @ torch.linalg.inv(_sqrtm(_covariance(pixels_s)))
    return transform @ (pixels_s - mu_s) + mu_c


def _covariance(pixels: torch.Tensor) -> torch.Tensor:
    centred = pixels - pixels.mean(1, keepdim=True)
    # A small ridge: a flat (one-colour) image has a singular covariance.
    return centred @ centred.T / pixels.shape[1] + 1e-3 * torch.eye(3, dtype=pixels.dtype)


def _sqrtm(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T


def _match_marginals(source: torch.Tensor, sorted_reference: torch.Tensor) -> torch.Tensor:
    """Each source value (3, N) replaced by the reference's value at the same quantile (rank mapping)."""
    count, size = source.shape[1], sorted_reference.shape[1]
    position = (torch.arange(count, dtype=torch.float64) + 0.5) / count * (size - 1)
    low = position.floor().long()
    high = (low + 1).clamp_max(size - 1)
    fraction = (position - low).to(sorted_reference.dtype)
    by_rank = sorted_reference[:, low] * (1 - fraction) + sorted_reference[:, high] * fraction
    out = torch.empty_like(source)
    out.scatter_(1, torch.argsort(source, dim=1, stable=True), by_rank)
    return out


def network_view(image: torch.Tensor, amount: float) -> torch.Tensor:
    """What the network sees in luminance mode: gray at ``amount`` 1, the colour image at 0."""
    if amount <= 0.0:
        return image
    if amount >= 1.0:
        return gray(image)
    return amount * gray(image) + (1.0 - amount) * image


def with_chroma_of(image: torch.Tensor, photo: torch.Tensor, amount: float) -> torch.Tensor:
    """``image``'s luminance with ``amount`` of the photo's chroma (and the rest of its own), RGB."""
    if amount <= 0.0:
        return image
    ycc = rgb_to_ycbcr(image)
    chroma = rgb_to_ycbcr(photo)[:, 1:]
    mixed = torch.cat([ycc[:, :1], amount * chroma + (1.0 - amount) * ycc[:, 1:]], dim=1)
    return ycbcr_to_rgb(mixed)
