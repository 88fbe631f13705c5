"""Multi-task face affect network: a timm backbone, an attention fusion block, a shared dense
layer and three heads (8 expressions, valence/arousal, 12 action units).

The fusion block follows the live-expression seed: dropout on the backbone's feature map,
multi-head self-attention over its spatial positions, average pooling, batch norm and a heavy
dropout. ``forward`` returns ``logits`` (expressions; softmax at inference),
``valence_arousal`` (tanh, in [-1, 1]) and ``action_units`` (logits; sigmoid at inference).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from emoscope.errors import UserError
from emoscope.labels import AFFWILD2_ACTION_UNITS, AFFWILD2_EXPRESSIONS
from emoscope.models.backbones import PretrainedMode, build_backbone
from emoscope.registry import MODELS

OUTPUTS = ("logits", "valence_arousal", "action_units")


class AttentionFusion(nn.Module):
    """(N, C, H, W) or (N, T, C) features -> (N, dim): dropout, self-attention, mean pool,
    batch norm, heavy dropout."""

    def __init__(self, in_dim: int, dim: int = 0, num_heads: int = 8, dropout: float = 0.2,
                 attention_dropout: float = 0.1, heavy_dropout: float = 0.5):
        super().__init__()
        dim = dim or in_dim
        if dim % num_heads:
            raise UserError(f"multitask fusion: width {dim} is not divisible by {num_heads} "
                            "heads; set model.kwargs.attention_dim")
        self.dim = dim
        self.project = nn.Linear(in_dim, dim) if dim != in_dim else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.attention = nn.MultiheadAttention(dim, num_heads, dropout=attention_dropout,
                                               batch_first=True)
        self.norm = nn.BatchNorm1d(dim)
        self.heavy_dropout = nn.Dropout(heavy_dropout)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        tokens = features.flatten(2).transpose(1, 2) if features.dim() == 4 else features
        tokens = self.dropout(self.project(tokens))
        attended, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        pooled = (tokens + attended).mean(dim=1)
        return self.heavy_dropout(self.norm(pooled))


@torch.no_grad()
def feature_map_width(backbone: nn.Module, in_chans: int = 3, probe_size: int = 64) -> int:
    """Channels of ``forward_features`` (not always ``num_features``: some backbones pool or
    add a head after it), measured on a small probe image."""
    was_training = backbone.training
    backbone.eval()
    out = backbone.forward_features(torch.zeros(1, in_chans, probe_size, probe_size))
    backbone.train(was_training)
    return int(out.shape[1] if out.dim() == 4 else out.shape[-1])


@MODELS.register("multitask_face")
class MultiTaskFaceModel(nn.Module):
    """Backbone -> ``AttentionFusion`` -> shared dense (ReLU) -> expression / VA / AU heads."""

    def __init__(self, backbone: str = "tf_efficientnetv2_s",
                 num_expressions: int = AFFWILD2_EXPRESSIONS.num_classes,
                 num_action_units: int = AFFWILD2_ACTION_UNITS.num_classes,
                 pretrained: PretrainedMode = "none", in_chans: int = 3, attention_dim: int = 0,
                 num_heads: int = 8, dropout: float = 0.2, heavy_dropout: float = 0.5,
                 hidden_dim: int = 256, **_: Any):
        super().__init__()
        self.backbone = build_backbone(backbone, pretrained=pretrained, in_chans=in_chans)
        width = feature_map_width(self.backbone, in_chans)
        self.fusion = AttentionFusion(width, attention_dim, num_heads, dropout,
                                      heavy_dropout=heavy_dropout)
        self.shared = nn.Sequential(nn.Linear(self.fusion.dim, hidden_dim), nn.ReLU())
        self.expression_head = nn.Linear(hidden_dim, num_expressions)
        self.valence_arousal_head = nn.Sequential(nn.Linear(hidden_dim, 2), nn.Tanh())
        self.action_unit_head = nn.Linear(hidden_dim, num_action_units)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(images)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        shared = self.shared(self.fusion(self.feature_map(images)))
        return {"logits": self.expression_head(shared),
                "valence_arousal": self.valence_arousal_head(shared),
                "action_units": self.action_unit_head(shared)}
