"""CAER-Net-S (Lee et al. ICCV 2019): a face stream and a context stream on the frame with the
face masked out; the context stream pools its feature map with a learned spatial attention
(where in the scene to look), and an adaptive fusion weighs the two streams per sample.

Any timm (or BACKBONES) name works for either stream. ``forward(batch)`` reads ``face`` and
``context_masked`` (a CAER-S item) and the optional ``stream_mask`` (a missing face gets
fusion weight 0); it returns ``{"logits": (N, C)}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from emoscope.labels import CAER_S_LABELS
from emoscope.models.backbones import (
    Preprocessing,
    PretrainedMode,
    backbone_preprocessing,
    build_backbone,
)
from emoscope.models.fusion.base import masked_softmax
from emoscope.models.multistream import feature_width
from emoscope.models.streams import STREAMS, resolve_backbone
from emoscope.registry import MODELS


def spatial_channels(backbone: nn.Module, size: int) -> int:
    """Channels of ``backbone.forward_features`` (found by one small forward pass)."""
    was_training = backbone.training
    backbone.eval()
    with torch.no_grad():
        feats = backbone.forward_features(torch.zeros(1, 3, size, size))
    backbone.train(was_training)
    return int(feats.shape[1] if feats.dim() == 4 else feats.shape[-1])


def as_positions(feats: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) feature maps or (N, T, C) tokens -> (N, L, C)."""
    return feats.flatten(2).transpose(1, 2) if feats.dim() == 4 else feats


class SpatialAttentionPool(nn.Module):
    """Score each position (two 1x1 layers), softmax over positions, weighted mean."""

    def __init__(self, channels: int, hidden: int = 64):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = torch.softmax(self.score(positions).squeeze(-1), dim=1)  # (N, L)
        return (positions * weights.unsqueeze(-1)).sum(1), weights


@MODELS.register("caernet_s")
class CaerNetS(nn.Module):
    """Face stream + attention-pooled, face-masked context stream, adaptive fusion."""

    streams = ("face", "context_masked")

    def __init__(self, face: str = "resnet18", context: str = "resnet18",
                 num_classes: int = CAER_S_LABELS.num_classes, width: int = 128,
                 hidden_dim: int = 128, dropout: float = 0.5,
                 image_sizes: Mapping[str, int] | None = None,
                 pretrained: PretrainedMode = "none"):
        super().__init__()
        sizes = {k: int(v) for k, v in (image_sizes or {}).items()}
        self.config: dict[str, Any] = {"face": face, "context": context,
                                       "num_classes": num_classes, "width": width,
                                       "hidden_dim": hidden_dim, "dropout": dropout,
                                       "image_sizes": sizes}
        self.face_backbone = build_backbone(resolve_backbone(face), pretrained=pretrained)
        self.context_backbone = build_backbone(resolve_backbone(context), pretrained=pretrained)
        self.preprocessing: dict[str, Preprocessing] = {
            "face": backbone_preprocessing(self.face_backbone, sizes.get("face")),
            "context_masked": backbone_preprocessing(self.context_backbone,
                                                     sizes.get("context_masked")),
        }
        probe = self.preprocessing["context_masked"].input_size[-1]
        channels = spatial_channels(self.context_backbone, probe)
        self.attention = SpatialAttentionPool(channels)
        self.face_project = nn.Sequential(nn.Linear(feature_width(self.face_backbone), width),
                                          nn.ReLU())
        self.context_project = nn.Sequential(nn.Linear(channels, width), nn.ReLU())
        # one scalar importance per stream from its own features (the adaptive fusion)
        self.face_gate = nn.Sequential(nn.Linear(width, width // 2), nn.ReLU(),
                                       nn.Linear(width // 2, 1))
        self.context_gate = nn.Sequential(nn.Linear(width, width // 2), nn.ReLU(),
                                          nn.Linear(width // 2, 1))
        self.classifier = nn.Sequential(nn.Linear(2 * width, hidden_dim), nn.ReLU(),
                                        nn.Dropout(dropout), nn.Linear(hidden_dim, num_classes))

    def stream_weights(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(N, 2) fusion weights of (face, context) per sample."""
        return self._fuse(batch)[1]

    def _fuse(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        face = self.face_project(self.face_backbone(batch["face"]))
        context, _ = self.attention(as_positions(
            self.context_backbone.forward_features(batch["context_masked"])))
        context = self.context_project(context)
        present = torch.ones(face.shape[0], 2, device=face.device)
        mask = batch.get("stream_mask")
        if mask is not None and mask.dim() == 2 and mask.shape[1] == len(STREAMS):
            present[:, 0] = mask[:, STREAMS.index("face")].float()
        scores = torch.cat([self.face_gate(face), self.context_gate(context)], dim=1)
        weights = masked_softmax(scores, present)
        fused = torch.cat([face * weights[:, :1], context * weights[:, 1:]], dim=1)
        return fused, weights

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": self.classifier(self._fuse(batch)[0])}
