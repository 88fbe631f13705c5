"""Batched augmentation on the training device: one affine warp per batch, flip, erasing.

Works on uint8 batches straight from an in-memory dataset, so the CPU never decodes or warps
images per sample; on a GPU the whole pipeline runs there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    hflip: bool = True
    rotate_deg: float = 10.0
    scale_min: float = 0.85
    scale_max: float = 1.15
    translate: float = 0.08  # fraction of the image size
    erase_p: float = 0.25
    erase_max_area: float = 0.2


def _affine_theta(n: int, cfg: AugmentConfig, device: torch.device) -> torch.Tensor:
    angle = (torch.rand(n, device=device) * 2 - 1) * math.radians(cfg.rotate_deg)
    scale = cfg.scale_min + torch.rand(n, device=device) * (cfg.scale_max - cfg.scale_min)
    shift = (torch.rand(n, 2, device=device) * 2 - 1) * cfg.translate * 2
    flip = torch.ones(n, device=device)
    if cfg.hflip:
        flip = torch.where(torch.rand(n, device=device) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = cos * flip, -sin, shift[:, 0]
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sin * flip, cos, shift[:, 1]
    return theta


def _random_erase(x: torch.Tensor, p: float, max_area: float) -> torch.Tensor:
    n, _, h, w = x.shape
    apply = torch.rand(n, device=x.device) < p
    if not apply.any():
        return x
    area = torch.rand(n, device=x.device) * max_area
    aspect = torch.exp((torch.rand(n, device=x.device) - 0.5) * math.log(3.0))
    eh = (torch.sqrt(area * aspect) * h).clamp(1, h)
    ew = (torch.sqrt(area / aspect) * w).clamp(1, w)
    cy = torch.rand(n, device=x.device) * h
    cx = torch.rand(n, device=x.device) * w
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    box = ((ys - cy.view(n, 1, 1)).abs() < eh.view(n, 1, 1) / 2) & (
        (xs - cx.view(n, 1, 1)).abs() < ew.view(n, 1, 1) / 2
    )
    box &= apply.view(n, 1, 1)
    noise = torch.randn_like(x)
    return torch.where(box.unsqueeze(1), noise, x)


class FaceBatchTransform:
    """uint8 (N, C, h, w) -> normalised float (N, 3, size, size), augmented when training."""

    def __init__(self, image_size: int, mean, std, augment: AugmentConfig | None = None):
        self.image_size = image_size
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.augment = augment

    def __call__(self, images: torch.Tensor, train: bool, sizes: tuple[int, ...] | None = None):
        """Returns one tensor, or one per size in ``sizes`` warped with the same random draw."""
        x = images.float().div_(255.0)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        sizes = sizes or (self.image_size,)
        outputs = []
        theta = _affine_theta(len(x), self.augment, x.device) if train and self.augment else None
        for size in sizes:
            if theta is not None:
                grid = F.affine_grid(theta, [len(x), 3, size, size], align_corners=False)
                out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                                    align_corners=False)
            else:
                out = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                                    antialias=size < x.shape[-1])
            out = (out - self.mean.to(out.device)) / self.std.to(out.device)
            if theta is not None and self.augment.erase_p > 0:
                out = _random_erase(out, self.augment.erase_p, self.augment.erase_max_area)
            outputs.append(out.contiguous(memory_format=torch.channels_last))
        return outputs[0] if len(outputs) == 1 else tuple(outputs)
