"""Stream names, ablation choices and the EMOTIC study's short backbone names."""

from __future__ import annotations

import re

from emoscope.errors import UserError

STREAMS = ("context", "body", "face")  # canonical order, also of a batch's ``stream_mask``

# --ablation choices of the study: every stream, one stream, or a pair.
ABLATIONS = ("all", "context", "body", "face", "context_body", "context_face", "body_face")

# Short names used by the study's commands -> timm names. Any timm name is accepted as is.
BACKBONE_ALIASES: dict[str, str] = {
    "swin": "swin_tiny_patch4_window7_224",
    "deit": "deit_small_patch16_224",
    "mobilenetv3": "mobilenetv3_large_100",
    "mobilenet_v3": "mobilenetv3_large_100",
    "efficientnet_b0": "efficientnet_b0",
    "efficientnet_b7": "efficientnet_b7",
    "efficientnetv2_s": "tf_efficientnetv2_s",
    "efficientnet_v2_s": "tf_efficientnetv2_s",
    "resnet18": "resnet18",
    "resnet50": "resnet50",
}


def resolve_backbone(name: str) -> str:
    """The timm (or BACKBONES) name behind a study alias; other names pass unchanged."""
    return BACKBONE_ALIASES.get(name.lower(), name)


def parse_ablation(ablation: str) -> tuple[str, ...]:
    """``"all"``, one stream, or two joined by ``_``, ``+`` or ``,`` -> streams in canonical
    order."""
    key = ablation.strip().lower()
    if key == "all":
        return STREAMS
    names = [part for part in re.split(r"[_+,\s]+", key) if part]
    if not names or any(name not in STREAMS for name in names) or len(set(names)) != len(names):
        raise UserError(f"unknown ablation '{ablation}'; known: {', '.join(ABLATIONS)}")
    return tuple(s for s in STREAMS if s in names)
