"""The face-only control: one backbone on the face crop of a context dataset item. On CAER-S a
face-only network reaches about 93%, so every context or debiasing gain is reported next to
it. ``forward(batch)`` reads ``face`` and returns ``{"logits": (N, C)}``."""

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
from emoscope.models.multistream import feature_width
from emoscope.models.streams import resolve_backbone
from emoscope.registry import MODELS


@MODELS.register("face_only")
class FaceOnlyModel(nn.Module):
    """Backbone -> dropout -> linear logits, on ``batch["face"]`` only."""

    streams = ("face",)

    def __init__(self, face: str = "resnet18", num_classes: int = CAER_S_LABELS.num_classes,
                 dropout: float = 0.2, image_size: int | None = None,
                 pretrained: PretrainedMode = "none"):
        super().__init__()
        self.config: dict[str, Any] = {"face": face, "num_classes": num_classes,
                                       "dropout": dropout, "image_size": image_size}
        self.backbone = build_backbone(resolve_backbone(face), pretrained=pretrained)
        self.head = nn.Sequential(nn.Dropout(dropout),
                                  nn.Linear(feature_width(self.backbone), num_classes))
        self.preprocessing: dict[str, Preprocessing] = {
            "face": backbone_preprocessing(self.backbone, image_size)}

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": self.head(self.backbone(batch["face"]))}
