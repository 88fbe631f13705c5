"""The dual-head EmoNet variant of the seed study: a ResNet-50 on the person (body) crop,
a shared fc -> bn -> relu -> dropout block, a 26-way sigmoid category head and a 2-way tanh
valence/arousal head. Train it with the ``emonet_dual_head`` recipe
(``configs/emonet_dual_head.yaml``): asymmetric loss on the categories plus SmoothL1 on
valence/arousal normalised to [-1, 1] (train statistics), AdamW, ReduceLROnPlateau on val mAP.
"""

from __future__ import annotations

from typing import Any

from emoscope.labels import EMOTIC_CATEGORIES
from emoscope.models.backbones import PretrainedMode
from emoscope.models.multistream import MultiStreamModel
from emoscope.registry import MODELS

VALENCE_AROUSAL = 2  # the first two of EMOTIC's valence / arousal / dominance

EMONET_HEADS: dict[str, Any] = {
    "block": "fc_bn_relu_dropout", "hidden_dim": 512, "dropout": 0.3,
    "num_categories": EMOTIC_CATEGORIES.num_classes, "num_vad": VALENCE_AROUSAL,
    "vad_activation": "tanh",
}

# The recipe's loss, as kwargs of the ``combined`` LOSSES entry (ASL: Ridnik et al. 2021).
EMONET_LOSS: dict[str, Any] = {"categorical": "asl", "vad": "smooth_l1",
                               "categorical_weight": 1.0, "vad_weight": 1.0}


@MODELS.register("emonet_dual_head")
def emonet_dual_head(pretrained: PretrainedMode = "none", body: str = "resnet50",
                     image_size: int = 224, **overrides: Any) -> MultiStreamModel:
    """ResNet-50 (or ``body``) on the body crop with the dual heads; the result is a
    ``multistream`` model, so its card rebuilds it without this preset."""
    kwargs: dict[str, Any] = {
        "context": None, "body": body, "face": None, "ablation": "body", "fusion": "simple",
        "fusion_dim": 2048 if body == "resnet50" else 256, "heads": "emotion",
        "head_kwargs": dict(EMONET_HEADS), "image_sizes": {"body": image_size},
    }
    kwargs.update(overrides)
    return MultiStreamModel(pretrained=pretrained, **kwargs)
