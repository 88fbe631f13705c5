"""An untrained tiny EMOTIC model saved as a trained run would save it (model.safetensors +
card with the per-stream preprocessing), for evaluation and review tests."""

from __future__ import annotations

from pathlib import Path

import torch

from emoscope.config import merge_config
from emoscope.models.files.checkpoint import save_model
from emoscope.training.emotic_config import EmoticConfig
from emoscope.training.train_emotic import _card, build_emotic_network, load_emotic_splits


def save_untrained_emotic(root: Path, folder: Path, *overrides: str) -> Path:
    sets = [f"data.root={root}", "model.pretrained=none", "model.fusion_dim=16",
            "data.normalise_vad=true", "model.face.backbone=tiny_cnn_test"]
    for stream in ("context", "body", "face"):
        sets += [f"model.{stream}.backbone=tiny_cnn_test", f"model.{stream}.image_size=32"]
    cfg = merge_config(EmoticConfig, None, sets + list(overrides))
    torch.manual_seed(0)
    network = build_emotic_network(cfg).eval()
    train, _ = load_emotic_splits(cfg, network)
    return save_model(network, _card(cfg, network, train, "test"), folder / "model")
