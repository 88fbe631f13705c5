"""The CLEF objective: factual (fused) + context-branch + KL terms, weights configurable.

- factual: the likelihood of the targets under the fused prediction ``phi(Y_c, Y_e)``
  (softmax cross-entropy, or for multi-label the Bernoulli likelihood of the fused
  probability itself, from ``log p`` and ``log(1 - p)``: never ``log p`` used as a logit);
- context: the context branch alone (cross-entropy or BCE-with-logits on ``Y_c``);
- KL: ``KL(phi(Y_c, Y_e) || phi(Y_c, Y_e*))`` with the factual side detached and ``Y_c``
  detached, so the term moves only ``Y_e*``: the counterfactual "subject not seen" output is
  the prediction the context alone explains (counterfactual VQA's recipe for its constant).

Warm-up: during the first ``warmup_steps`` optimiser steps the factual model trains on its
own logits (no fusion, no KL) beside the context branch, so the fused loss starts from a
factual model that already predicts something; multi-label fusion from scratch is otherwise
dominated by the context branch and the factual logits drift.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from emoscope.errors import UserError
from emoscope.models.counterfactual import fused_log_prob, log1mexp, soft_clamp
from emoscope.registry import LOSSES


def bernoulli_nll(log_p: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of probabilities given as ``log p``."""
    return -(targets * log_p + (1.0 - targets) * log1mexp(log_p)).mean()


def kl_to_counterfactual(fused: torch.Tensor, counterfactual: torch.Tensor,
                         multi_label: bool) -> torch.Tensor:
    """KL(fused || counterfactual) of log-probabilities, averaged over samples (and classes
    for multi-label, as Bernoulli KLs)."""
    if not multi_label:
        return F.kl_div(counterfactual, fused, log_target=True, reduction="batchmean")
    p = fused.exp()
    return (p * (fused - counterfactual)
            + (1.0 - p) * (log1mexp(fused) - log1mexp(counterfactual))).mean()


@LOSSES.register("clef")
class CounterfactualLoss(nn.Module):
    """``factual_weight * L_fused + context_weight * L_context + kl_weight * L_kl``.

    ``forward(outputs, targets, step)``: ``outputs`` of ``CounterfactualModel``, targets (N,)
    class indices (single-label) or (N, C) 0/1 (multi-label); ``model`` supplies ``Y_e*``.
    Returns ``{"loss", "factual", "context", "kl"}``.
    """

    def __init__(self, factual_weight: float = 1.0, context_weight: float = 1.0,
                 kl_weight: float = 1.0, warmup_steps: int = 0, label_smoothing: float = 0.0):
        super().__init__()
        if min(factual_weight, context_weight, kl_weight) < 0:
            raise UserError("clef loss: weights must not be negative")
        self.factual_weight, self.context_weight = factual_weight, context_weight
        self.kl_weight, self.warmup_steps = kl_weight, int(warmup_steps)
        self.label_smoothing = label_smoothing

    def _nll(self, log_p: torch.Tensor, targets: torch.Tensor, multi: bool) -> torch.Tensor:
        if multi:
            return bernoulli_nll(log_p, targets.float())
        return F.cross_entropy(log_p, targets.long(), label_smoothing=self.label_smoothing)

    def forward(self, outputs: Mapping[str, torch.Tensor], targets: torch.Tensor, model: nn.Module,
                step: int = 0) -> dict[str, torch.Tensor]:
        multi = model.kind == "multi_label"
        context, subject = outputs["context"], outputs["factual"]
        if multi:
            context_loss = F.binary_cross_entropy_with_logits(context, targets.float())
        else:
            context_loss = F.cross_entropy(context, targets.long(),
                                           label_smoothing=self.label_smoothing)
        if step < self.warmup_steps:
            own = F.logsigmoid(subject) if multi else F.log_softmax(subject, dim=-1)
            factual_loss = self._nll(own, targets, multi)
            kl = subject.new_zeros(())
        else:
            fused = outputs["fused_log_prob"]
            factual_loss = self._nll(fused, targets, multi)
            no_subject = soft_clamp(model.no_subject, model.clamp).expand_as(subject)
            counterfactual = fused_log_prob(context.detach(), no_subject, model.fusion,
                                            model.kind)
            kl = kl_to_counterfactual(fused.detach(), counterfactual, multi)
        total = (self.factual_weight * factual_loss + self.context_weight * context_loss
                 + self.kl_weight * kl)
        return {"loss": total, "factual": factual_loss.detach(), "context": context_loss.detach(),
                "kl": kl.detach()}
