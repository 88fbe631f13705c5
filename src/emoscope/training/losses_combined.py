"""The weighted sum of a categorical (multi-label) loss and a VAD loss for two-headed models."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from emoscope.errors import UserError
from emoscope.registry import LOSSES

CATEGORIES, VAD = "categories", "vad"


def _valid_rows(targets: torch.Tensor) -> torch.Tensor:
    """Rows without any NaN: a missing label is masked, never trained towards."""
    return ~torch.isnan(targets.float()).flatten(1).any(dim=1)


def _as_module(loss: str | nn.Module, kwargs: dict[str, Any] | None) -> nn.Module:
    return LOSSES.build(loss, **(kwargs or {})) if isinstance(loss, str) else loss


@LOSSES.register("combined")
class CategoricalVADLoss(nn.Module):
    """``categorical_weight * L_cat(categories) + vad_weight * L_vad(vad)``.

    Each loss is a LOSSES name (with its kwargs) or a built module. ``forward(outputs,
    targets)`` takes the model's output dict and a dict with ``categories`` (N, C) and/or
    ``vad`` (N, 3); rows holding NaN are left out of that term, and a term whose output or
    target is absent is skipped. Returns ``{"loss", "categories", "vad"}`` (the last two
    unweighted, for logging). The EMOTIC reference weights both terms 0.5.
    """

    def __init__(self, categorical: str | nn.Module = "discrete", vad: str | nn.Module = "l2",
                 categorical_weight: float = 0.5, vad_weight: float = 0.5,
                 categorical_kwargs: dict[str, Any] | None = None,
                 vad_kwargs: dict[str, Any] | None = None):
        super().__init__()
        self.categorical = _as_module(categorical, categorical_kwargs)
        self.vad = _as_module(vad, vad_kwargs)
        self.weights = {CATEGORIES: categorical_weight, VAD: vad_weight}

    def forward(self, outputs: dict[str, torch.Tensor],
                targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        parts: dict[str, torch.Tensor] = {}
        for key, loss in ((CATEGORIES, self.categorical), (VAD, self.vad)):
            if key not in outputs or key not in targets:
                continue
            prediction = outputs[key]
            target = targets[key]
            if key == VAD:  # a valence/arousal head predicts the first two of VAD
                target = target[..., :prediction.shape[-1]]
            valid = _valid_rows(target)
            if valid.any():
                parts[key] = loss(prediction[valid], target[valid])
            else:  # keeps the graph connected so every parameter still gets a (zero) grad
                parts[key] = prediction.sum() * 0.0
        if not parts:
            raise UserError(f"combined loss: no output/target pair among {CATEGORIES}, {VAD} "
                            f"(outputs {list(outputs)}, targets {list(targets)})")
        total = sum(self.weights[key] * value for key, value in parts.items())
        return {"loss": total, **{key: value.detach() for key, value in parts.items()}}
