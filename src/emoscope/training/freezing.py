"""Partial unfreezing: freeze the stem and the first N stages of a timm backbone."""

from __future__ import annotations

from torch import nn

_STAGE_CONTAINERS = ("blocks", "stages", "layers")
_RESNET_STAGES = ("layer1", "layer2", "layer3", "layer4")
_STEM_NAMES = ("conv_stem", "bn1", "conv1", "stem", "patch_embed")


def stages_of(backbone: nn.Module) -> list[nn.Module]:
    for name in _STAGE_CONTAINERS:
        container = getattr(backbone, name, None)
        if isinstance(container, nn.Sequential | nn.ModuleList):
            return list(container)
    return [getattr(backbone, n) for n in _RESNET_STAGES if hasattr(backbone, n)]


def freeze_early_stages(backbone: nn.Module, num_stages: int) -> int:
    """Freeze the stem and the first ``num_stages`` stages; returns frozen parameter count."""
    frozen = 0
    modules = [getattr(backbone, n) for n in _STEM_NAMES if hasattr(backbone, n)]
    modules += stages_of(backbone)[:num_stages]
    for module in modules:
        for param in module.parameters():
            if param.requires_grad:
                param.requires_grad_(False)
                frozen += param.numel()
    return frozen
