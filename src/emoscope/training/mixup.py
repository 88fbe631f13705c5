"""MixUp (Zhang et al. 2018): convex combinations of image pairs and of their targets."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def mix_batch(
    views: tuple[torch.Tensor, ...], targets: torch.Tensor, num_classes: int, alpha: float,
    generator: np.random.Generator | None = None,
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Mix every view of the batch with the same pairs and weight; targets become distributions.

    alpha <= 0 leaves the images as they are (targets are still returned as distributions).
    Without ``generator`` the weight comes from numpy's global generator and the pairs from
    torch's, which the seed sets and checkpoints keep (a resumed run draws the same mixes).
    """
    soft = targets.float() if targets.dim() == 2 else F.one_hot(targets, num_classes).float()
    if alpha <= 0:
        return views, soft
    lam = float((generator or np.random).beta(alpha, alpha))
    perm = torch.randperm(soft.shape[0], device=soft.device)
    mixed = tuple(lam * v + (1 - lam) * v[perm] for v in views)
    return mixed, lam * soft + (1 - lam) * soft[perm]
