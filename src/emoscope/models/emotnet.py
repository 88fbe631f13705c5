"""EMOT-Net (Kosti et al. CVPR 2017, the first EMOTIC baseline): a body stream and a
whole-image stream (the scene *with* the person, unlike CLEF's context branch), their
features concatenated and fused by fc -> bn -> relu -> dropout into 26 category logits and
3 continuous (VAD) outputs. Built on ``MultiStreamModel``, so every EMOTIC tool (training,
feature cache, evaluation) takes it; any timm backbone per stream."""

from __future__ import annotations

from typing import Any

from emoscope.labels import EMOTIC_CATEGORIES, EMOTIC_VAD
from emoscope.models.backbones import PretrainedMode
from emoscope.models.multistream import MultiStreamModel
from emoscope.registry import MODELS


@MODELS.register("emotnet")
def emotnet(body: str = "resnet18", image: str = "resnet18", fusion_dim: int = 256,
            dropout: float = 0.5, num_categories: int = EMOTIC_CATEGORIES.num_classes,
            num_vad: int = EMOTIC_VAD.num_classes, body_size: int = 128, image_size: int = 224,
            pretrained: PretrainedMode = "none", **overrides: Any) -> MultiStreamModel:
    """Body (``body_size``) and whole-image (``image_size``) streams; ``simple`` fusion (its
    linear layer is the fc) into the 26 + 3 heads. ``overrides`` go to ``MultiStreamModel``."""
    kwargs: dict[str, Any] = {
        "context": image, "body": body, "face": None, "fusion": "simple",
        "fusion_dim": fusion_dim, "heads": "emotion",
        "head_kwargs": {"block": "bn_relu_dropout", "dropout": dropout,
                        "num_categories": num_categories, "num_vad": num_vad},
        "image_sizes": {"context": image_size, "body": body_size},
    }
    kwargs.update(overrides)
    return MultiStreamModel(pretrained=pretrained, **kwargs)
