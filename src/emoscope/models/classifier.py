"""Image classifier: a timm backbone, a class head and an optional valence/arousal head."""

from __future__ import annotations

import torch
from torch import nn

from emoscope.models.backbones import PretrainedMode, build_backbone
from emoscope.registry import MODELS


@MODELS.register("timm_classifier")
class ImageClassifier(nn.Module):
    """Backbone features -> dropout -> linear logits (and tanh valence/arousal if asked).

    ``forward`` returns a dict: ``logits`` (N, C) and, when enabled, ``valence_arousal`` (N, 2).
    """

    def __init__(
        self,
        backbone: str,
        num_classes: int,
        pretrained: PretrainedMode = "none",
        in_chans: int = 3,
        dropout: float = 0.2,
        valence_arousal: bool = False,
    ):
        super().__init__()
        self.backbone = build_backbone(backbone, pretrained=pretrained, in_chans=in_chans)
        # timm's pooled output width: mobilenetv3 adds a conv head after ``num_features``.
        features = getattr(self.backbone, "head_hidden_size", None) or self.backbone.num_features
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(features, num_classes))
        self.valence_arousal_head = (
            nn.Sequential(nn.Dropout(dropout), nn.Linear(features, 2), nn.Tanh())
            if valence_arousal
            else None
        )

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.backbone(images)
        out = {"logits": self.head(feats)}
        if self.valence_arousal_head is not None:
            out["valence_arousal"] = self.valence_arousal_head(feats)
        return out
