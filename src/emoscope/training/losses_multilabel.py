"""Multi-label and VAD losses, registered by name; each takes logits (N, C) and 0/1 (or soft)
targets (N, C), VAD losses take predictions and targets (N, 3).

One reduction convention for all of them: ``"mean"`` (default) sums over classes and averages
over samples, so the scale does not move with the batch size; ``"sum"`` sums over everything
(what the EMOTIC reference code and the ASL authors' code return).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from emoscope.errors import UserError
from emoscope.registry import LOSSES

Reduction = Literal["mean", "sum"]


def reduce_per_sample(per_element: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    """(N, C) or (N,) -> scalar under the module's convention."""
    per_sample = per_element.sum(1) if per_element.dim() > 1 else per_element
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "mean":
        return per_sample.mean() if per_sample.numel() else per_sample.sum()
    raise UserError(f"unknown reduction '{reduction}'; known: mean, sum")


def sigmoid_focal_terms(logits: torch.Tensor, targets: torch.Tensor, gamma: float,
                        alpha: float | None = None) -> torch.Tensor:
    """Per-element sigmoid focal loss (Lin et al. 2017):
    ``-[y (1-p)^g log p + (1-y) p^g log(1-p)]``, with ``alpha`` weighting positives by alpha
    and negatives by 1-alpha when given."""
    logits, targets = logits.float(), targets.float()
    p = torch.sigmoid(logits)
    positive = -targets * (1 - p).pow(gamma) * F.logsigmoid(logits)
    negative = -(1 - targets) * p.pow(gamma) * F.logsigmoid(-logits)
    if alpha is not None:
        positive, negative = alpha * positive, (1 - alpha) * negative
    return positive + negative


@LOSSES.register("bce")
class BinaryCrossEntropy(nn.Module):
    """Sigmoid binary cross-entropy per class; ``pos_weight`` (C,) scales the positive term."""

    def __init__(self, pos_weight: torch.Tensor | None = None, reduction: Reduction = "mean"):
        super().__init__()
        self.reduction = reduction
        self.register_buffer("pos_weight", pos_weight, persistent=False)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        terms = F.binary_cross_entropy_with_logits(
            logits.float(), targets.float(), pos_weight=self.pos_weight, reduction="none")
        return reduce_per_sample(terms, self.reduction)


def discrete_class_weights(targets: torch.Tensor, offset: float = 1.2,
                           empty_weight: float = 1e-4) -> torch.Tensor:
    """EMOTIC's per-batch weights: ``1 / ln(n_c + offset)`` where n_c counts the positives of
    class c in the batch, ``empty_weight`` where n_c = 0."""
    counts = targets.float().sum(0)
    weights = 1.0 / torch.log(counts + offset)
    return torch.where(counts > 0, weights, torch.full_like(weights, empty_weight))


@LOSSES.register("discrete")
class DiscreteLoss(nn.Module):
    """The EMOTIC reference's dynamically weighted loss: ``sum_c w_c (s_c - y_c)^2`` with the
    per-batch weights of ``discrete_class_weights`` (no gradient through them).

    ``s`` is ``sigmoid(logits)`` as in the formula of the study; ``apply_sigmoid=False`` uses
    the raw outputs instead, as the widely used PyTorch reference implementation does.
    ``reduction="sum"`` reproduces the reference's batch sum.
    """

    def __init__(self, apply_sigmoid: bool = True, offset: float = 1.2,
                 empty_weight: float = 1e-4, reduction: Reduction = "mean"):
        super().__init__()
        self.apply_sigmoid = apply_sigmoid
        self.offset = offset
        self.empty_weight = empty_weight
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        scores = torch.sigmoid(logits.float()) if self.apply_sigmoid else logits.float()
        weights = discrete_class_weights(targets.detach(), self.offset, self.empty_weight)
        return reduce_per_sample(weights * (scores - targets.float()).square(), self.reduction)


@LOSSES.register("asl")
class AsymmetricLoss(nn.Module):
    """Asymmetric loss (Ridnik et al. 2021): positives ``-(1-p)^g+ log p``, negatives
    ``-p_m^g- log(1-p_m)`` with the shifted probability ``p_m = max(p - margin, 0)``, which
    discards easy negatives (p < margin) entirely."""

    def __init__(self, gamma_pos: float = 0.0, gamma_neg: float = 4.0, margin: float = 0.05,
                 eps: float = 1e-8, reduction: Reduction = "mean"):
        super().__init__()
        self.gamma_pos = gamma_pos
        self.gamma_neg = gamma_neg
        self.margin = margin
        self.eps = eps
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits, targets = logits.float(), targets.float()
        p = torch.sigmoid(logits)
        p_m = (p - self.margin).clamp(min=0) if self.margin > 0 else p
        positive = targets * (1 - p).pow(self.gamma_pos) * F.logsigmoid(logits)
        negative = (1 - targets) * p_m.pow(self.gamma_neg) * torch.log(
            (1 - p_m).clamp(min=self.eps))
        return reduce_per_sample(-(positive + negative), self.reduction)


@LOSSES.register("dice")
class DiceLoss(nn.Module):
    """Soft Dice per sample over its label set: ``1 - (2 sum_c p y + s) / (sum p + sum y + s)``
    with sigmoid scores p and smoothing s (keeps samples without labels defined)."""

    def __init__(self, smooth: float = 1.0, reduction: Reduction = "mean"):
        super().__init__()
        self.smooth = smooth
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        p, y = torch.sigmoid(logits.float()), targets.float()
        overlap = 2 * (p * y).sum(1) + self.smooth
        total = p.sum(1) + y.sum(1) + self.smooth
        return reduce_per_sample(1 - overlap / total, self.reduction)


@LOSSES.register("mllsc")
class SoftMarginCorrelationLoss(nn.Module):
    """Multi-label soft margin plus a label-correlation (pairwise ranking) term.

    ``L = 1/C sum_c softplus(-(2y_c - 1) x_c)``  (PyTorch's ``MultiLabelSoftMarginLoss``)
    ``  + pair_weight * log(1 + sum_{p in Y+} sum_{q in Y-} exp(x_q - x_p))``  (LSEP, Li et
    al. 2017). The soft-margin term alone is ``bce`` divided by C; the pairwise term ties the
    classes together by asking every positive to outrank every negative of the same sample,
    which is what mAP rewards. Samples with no positive or no negative have a zero pairwise
    term. No canonical definition of "mllsc" was available, so this one is stated here.
    """

    def __init__(self, pair_weight: float = 1.0, reduction: Reduction = "mean"):
        super().__init__()
        self.pair_weight = pair_weight
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x, y = logits.float(), (targets.float() > 0.5).float()
        soft_margin = F.softplus(-(2 * y - 1) * x).mean(1)
        # diff[n, q, p] = x_q - x_p, counted only for q negative and p positive
        diff = x.unsqueeze(2) - x.unsqueeze(1)
        pairs = (1 - y).unsqueeze(2) * y.unsqueeze(1)
        masked = diff.masked_fill(pairs < 0.5, float("-inf")).flatten(1)
        zero = torch.zeros(x.shape[0], 1, device=x.device)
        ranking = torch.logsumexp(torch.cat([zero, masked], dim=1), dim=1)  # log(1 + sum exp)
        return reduce_per_sample(soft_margin + self.pair_weight * ranking, self.reduction)


@LOSSES.register("smooth_l1")
class SmoothL1(nn.Module):
    """Huber-style loss for VAD: ``0.5 d^2 / beta`` below ``beta``, ``|d| - 0.5 beta`` above."""

    def __init__(self, beta: float = 1.0, reduction: Reduction = "mean"):
        super().__init__()
        self.beta = beta
        self.reduction = reduction

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        terms = F.smooth_l1_loss(predictions.float(), targets.float(), beta=self.beta,
                                 reduction="none")
        return reduce_per_sample(terms, self.reduction)


@LOSSES.register("l2")
class SquaredError(nn.Module):
    """Squared error for VAD, summed over the dimensions."""

    def __init__(self, reduction: Reduction = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return reduce_per_sample((predictions.float() - targets.float()).square(),
                                 self.reduction)
