"""Masked per-task losses of the multi-task face model, weighted or uncertainty-weighted.

Targets use the dataset's missing markers: expression -1, valence/arousal NaN, action unit -1.
A missing label contributes nothing and sends no gradient to its output; a task without any
label in the batch adds a zero that keeps the graph connected.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from emoscope.errors import UserError
from emoscope.registry import LOSSES

EXPRESSION, VA, AU = "logits", "valence_arousal", "action_units"
TARGET_KEYS = {EXPRESSION: "expression", VA: "valence_arousal", AU: "action_units"}


def ccc_loss(prediction: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """1 - mean over columns of the concordance correlation (population moments)."""
    mp, mt = prediction.mean(0), target.mean(0)
    vp, vt = prediction.var(0, unbiased=False), target.var(0, unbiased=False)
    cov = ((prediction - mp) * (target - mt)).mean(0)
    ccc = 2 * cov / (vp + vt + (mp - mt) ** 2 + eps)
    return 1.0 - ccc.mean()


@LOSSES.register("multitask")
class MultiTaskLoss(nn.Module):
    """``sum_t w_t L_t`` over expression (cross-entropy), VA (CCC or MSE) and AU (BCE) terms.

    uncertainty: learn one log-variance ``s_t`` per task (Kendall et al. 2018) and use
    ``exp(-s_t) w_t L_t + s_t``; its parameters belong to this module, so the optimiser must
    see them. ``forward(outputs, targets)`` returns ``{"loss", "expression", "valence_arousal",
    "action_units"}`` (the task terms unweighted, for logging).
    """

    def __init__(self, expression_weight: float = 1.0, va_weight: float = 1.0,
                 au_weight: float = 1.0, va_loss: str = "ccc", label_smoothing: float = 0.0,
                 uncertainty: bool = False, class_weights: torch.Tensor | None = None,
                 au_pos_weight: torch.Tensor | None = None):
        super().__init__()
        if va_loss not in ("ccc", "mse"):
            raise UserError(f"multitask loss: va_loss '{va_loss}'; known: ccc, mse")
        self.weights = {EXPRESSION: expression_weight, VA: va_weight, AU: au_weight}
        self.va_loss = va_loss
        self.label_smoothing = label_smoothing
        self.register_buffer("class_weights", class_weights, persistent=False)
        self.register_buffer("au_pos_weight", au_pos_weight, persistent=False)
        self.log_vars = nn.Parameter(torch.zeros(3)) if uncertainty else None

    def _expression(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = target >= 0
        if not valid.any():
            return logits.sum() * 0.0
        weight = self.class_weights.to(logits.dtype) if self.class_weights is not None else None
        return F.cross_entropy(logits[valid].float(), target[valid].long(), weight=weight,
                               label_smoothing=self.label_smoothing)

    def _valence_arousal(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = ~torch.isnan(target).any(dim=1)
        if not valid.any():
            return prediction.sum() * 0.0
        p, t = prediction[valid].float(), target[valid].float()
        if self.va_loss == "ccc" and len(p) > 1:
            return ccc_loss(p, t)
        return F.mse_loss(p, t)

    def _action_units(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = target >= 0
        if not valid.any():
            return logits.sum() * 0.0
        pos_weight = None
        if self.au_pos_weight is not None:
            pos_weight = self.au_pos_weight.expand_as(target)[valid]
        return F.binary_cross_entropy_with_logits(
            logits.float()[valid], target.float()[valid], pos_weight=pos_weight)

    def forward(self, outputs: dict[str, torch.Tensor],
                targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        terms = {EXPRESSION: self._expression, VA: self._valence_arousal, AU: self._action_units}
        parts: dict[str, torch.Tensor] = {}
        total = None
        for i, (key, term) in enumerate(terms.items()):
            target_key = TARGET_KEYS[key]
            if key not in outputs or target_key not in targets or self.weights[key] == 0:
                continue
            value = term(outputs[key], targets[target_key])
            parts[target_key] = value.detach()
            weighted = self.weights[key] * value
            if self.log_vars is not None:
                weighted = torch.exp(-self.log_vars[i]) * weighted + self.log_vars[i]
            total = weighted if total is None else total + weighted
        if total is None:
            raise UserError(f"multitask loss: no output/target pair (outputs {list(outputs)}, "
                            f"targets {list(targets)})")
        return {"loss": total, **parts}
