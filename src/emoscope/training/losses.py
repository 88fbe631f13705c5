"""Classification losses, registered by name; each takes logits and integer or soft targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from emoscope.registry import LOSSES
from emoscope.training.losses_multilabel import sigmoid_focal_terms


def _as_distribution(targets: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    if targets.dim() == 1:
        targets = F.one_hot(targets, num_classes).float()
    if smoothing > 0:
        targets = targets * (1 - smoothing) + smoothing / num_classes
    return targets


@LOSSES.register("cross_entropy")
class CrossEntropy(nn.Module):
    """Cross-entropy with optional label smoothing and class weights; accepts soft targets."""

    def __init__(self, label_smoothing: float = 0.0, class_weights: torch.Tensor | None = None):
        super().__init__()
        self.label_smoothing = label_smoothing
        self.register_buffer("class_weights", class_weights, persistent=False)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        dist = _as_distribution(targets, logits.shape[1], self.label_smoothing)
        per_class = -dist * F.log_softmax(logits.float(), dim=1)
        if self.class_weights is not None:
            per_class = per_class * self.class_weights
        return per_class.sum(1).mean()


@LOSSES.register("focal")
class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): -(1 - p_t)^gamma * log p_t.

    Single-label (default): softmax over classes, summed over the target mass. With
    ``multi_label=True``: one sigmoid per class and 0/1 (or soft) targets (N, C), summed over
    classes and averaged over samples, ``alpha`` weighting positives (1 - alpha negatives).
    """

    def __init__(self, gamma: float = 2.0, label_smoothing: float = 0.0,
                 class_weights: torch.Tensor | None = None, multi_label: bool = False,
                 alpha: float | None = None):
        super().__init__()
        self.gamma = gamma
        self.label_smoothing = label_smoothing
        self.multi_label = multi_label
        self.alpha = alpha
        self.register_buffer("class_weights", class_weights, persistent=False)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.multi_label:
            per_class = sigmoid_focal_terms(logits, targets, self.gamma, self.alpha)
        else:
            dist = _as_distribution(targets, logits.shape[1], self.label_smoothing)
            log_p = F.log_softmax(logits.float(), dim=1)
            per_class = -dist * (1 - log_p.exp()).pow(self.gamma) * log_p
        if self.class_weights is not None:
            per_class = per_class * self.class_weights
        return per_class.sum(1).mean()


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      temperature: float) -> torch.Tensor:
    """Hinton et al. 2015: KL(teacher_T || student_T) * T^2."""
    t = temperature
    teacher = F.softmax(teacher_logits.float() / t, dim=1)
    student = F.log_softmax(student_logits.float() / t, dim=1)
    return F.kl_div(student, teacher, reduction="batchmean") * t * t


def build_loss(name: str, **kwargs) -> nn.Module:
    return LOSSES.build(name, **kwargs)
