"""The temporal term of a clip's later frames (Ruder et al. 2016, eq. 7-9): stay close to the
earlier painted frame(s) carried along the flow, where the flow can be trusted.

    L_temporal(x) = Σ_j (1/D) Σ_k c_j(k) (x_k − ω_j(k))²

ω_j the painted frame t−j carried to frame t, c_j its weight per pixel (0 or 1, from the
consistency check; for several earlier frames each pixel counts only for the nearest frame that
saw it: c_j minus the nearer ones' weights, at least 0), D = 3·H·W. Images are (1, 3, H, W) in
0..255 levels, so the term is a mean squared difference in levels.
"""

from __future__ import annotations

from typing import Any

import torch

from timelapse_nst.engine.objective import Objective, Scheduled


def temporal_loss(image: torch.Tensor, anchors: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Ruder et al.'s temporal loss of ``image`` (1, 3, H, W) against ``anchors`` (K, 3, H, W)
    weighted per pixel by ``weights`` (K, 1, H, W)."""
    return (weights * (image - anchors) ** 2).sum() / image[0].numel()


def long_term_weights(reliable: torch.Tensor) -> torch.Tensor:
    """Ruder et al.'s long-term weights (eq. 9): ``reliable`` (K, 1, H, W) are the checks against
    the earlier frames nearest first; each pixel is held to the nearest one that saw it."""
    weights = []
    nearer = torch.zeros_like(reliable[0])
    for check in reliable:
        weights.append((check - nearer).clamp(min=0))
        nearer = nearer + check
    return torch.stack(weights)


class TemporalObjective:
    """``objective`` plus ``weight`` × the temporal term: the optimiser minimises both; the parts
    it reports (``evaluate``'s second value, hence every ``Step.losses``) stay the frame's own
    objective, what painting the frame alone would minimise. Everything else is ``objective``'s."""

    def __init__(self, objective: Objective, anchors: torch.Tensor, weights: torch.Tensor, weight: float) -> None:
        self.objective = objective
        self.anchors = anchors
        self.weights = weights
        self.weight = weight

    def temporal(self, image: torch.Tensor) -> torch.Tensor:
        """The unweighted temporal term of ``image``."""
        return temporal_loss(image, self.anchors, self.weights)

    def evaluate(self, image: torch.Tensor, scheduled: Scheduled) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(weighted total with the temporal term, the frame's own unweighted parts), the gradient
        of the whole added into ``image.grad``."""
        total, parts = self.objective.evaluate(image, scheduled)
        temporal = self.weight * self.temporal(image)
        temporal.backward()
        return total + temporal.detach(), parts

    def __getattr__(self, name: str) -> Any:
        return getattr(self.objective, name)
