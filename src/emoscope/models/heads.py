"""Prediction heads: a multi-label category head (logits), a VAD regression head, and the
EMOTIC reference block (``fc -> bn -> relu -> dropout`` into both)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from emoscope.errors import UserError
from emoscope.labels import EMOTIC_CATEGORIES, EMOTIC_VAD
from emoscope.registry import HEADS

VadActivation = Literal["none", "tanh"]


@HEADS.register("multilabel")
class MultiLabelHead(nn.Module):
    """Linear logits, one per category; apply a sigmoid (not a softmax) at inference."""

    def __init__(self, in_dim: int, num_classes: int = EMOTIC_CATEGORIES.num_classes,
                 dropout: float = 0.0):
        super().__init__()
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, num_classes))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)


@HEADS.register("vad")
class VADHead(nn.Module):
    """Valence / arousal / dominance regression; ``tanh`` for targets normalised to [-1, 1]."""

    def __init__(self, in_dim: int, num_outputs: int = EMOTIC_VAD.num_classes,
                 dropout: float = 0.0, activation: VadActivation = "none"):
        super().__init__()
        if activation not in ("none", "tanh"):
            raise UserError(f"vad head: unknown activation '{activation}'; known: none, tanh")
        layers: list[nn.Module] = [nn.Dropout(dropout), nn.Linear(in_dim, num_outputs)]
        if activation == "tanh":
            layers.append(nn.Tanh())
        self.head = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)


@HEADS.register("emotion")
class EmotionHeads(nn.Module):
    """An optional shared block, then a category head and/or a VAD head.

    ``block``: ``"none"``; ``"bn_relu_dropout"`` (when the fusion's own linear layer is the
    reference's fc); or ``"fc_bn_relu_dropout"`` (a Linear to ``hidden_dim`` first).
    ``num_categories`` or ``num_vad`` of 0 leaves that head out. ``forward`` returns
    ``{"categories": (N, C) logits, "vad": (N, 3)}`` for the heads present.
    """

    def __init__(self, in_dim: int, num_categories: int = EMOTIC_CATEGORIES.num_classes,
                 num_vad: int = EMOTIC_VAD.num_classes, block: str = "bn_relu_dropout",
                 hidden_dim: int = 256, dropout: float = 0.5,
                 vad_activation: VadActivation = "none"):
        super().__init__()
        if num_categories <= 0 and num_vad <= 0:
            raise UserError("emotion heads: need categories, VAD or both")
        self.block, width = _shared_block(block, in_dim, hidden_dim, dropout)
        self.categories = MultiLabelHead(width, num_categories) if num_categories > 0 else None
        self.vad = VADHead(width, num_vad, activation=vad_activation) if num_vad > 0 else None

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        shared = self.block(features)
        out = {}
        if self.categories is not None:
            out["categories"] = self.categories(shared)
        if self.vad is not None:
            out["vad"] = self.vad(shared)
        return out


def _shared_block(kind: str, in_dim: int, hidden_dim: int,
                  dropout: float) -> tuple[nn.Module, int]:
    if kind == "none":
        return nn.Identity(), in_dim
    if kind == "bn_relu_dropout":
        return nn.Sequential(nn.BatchNorm1d(in_dim), nn.ReLU(), nn.Dropout(dropout)), in_dim
    if kind == "fc_bn_relu_dropout":
        return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim),
                             nn.ReLU(), nn.Dropout(dropout)), hidden_dim
    raise UserError(f"emotion heads: unknown block '{kind}'; known: none, bn_relu_dropout, "
                    "fc_bn_relu_dropout")


@HEADS.register("emotic_reference")
def emotic_reference_heads(in_dim: int, hidden_dim: int = 256, dropout: float = 0.5,
                           num_categories: int = EMOTIC_CATEGORIES.num_classes,
                           num_vad: int = EMOTIC_VAD.num_classes) -> EmotionHeads:
    """The EMOTIC reference fusion block: fc(256) -> bn -> relu -> dropout(0.5) -> 26 + 3."""
    return EmotionHeads(in_dim, num_categories, num_vad, block="fc_bn_relu_dropout",
                        hidden_dim=hidden_dim, dropout=dropout)
