"""Tiny random multi-task face models saved with their cards (32x32 RGB, tiny CNN backbone)."""

from __future__ import annotations

from pathlib import Path

import torch

from emoscope.labels import AFFWILD2_ACTION_UNITS, AFFWILD2_EXPRESSIONS
from emoscope.models.backbones import Preprocessing
from emoscope.models.files.checkpoint import ModelCard, save_model
from emoscope.models.multitask import OUTPUTS, MultiTaskFaceModel

KWARGS = {"backbone": "tiny_cnn_test", "num_heads": 4, "hidden_dim": 16}


def save_multitask(folder: Path, seed: int, name: str = "mt", size: int = 32):
    """(weights path, model) of a random tiny multi-task model."""
    torch.manual_seed(seed)
    model = MultiTaskFaceModel(**KWARGS).eval()
    with torch.no_grad():  # give BatchNorm non-trivial statistics
        model.fusion.norm.running_mean.normal_()
    card = ModelCard(name=f"{name}{seed}", architecture="multitask_face",
                     architecture_kwargs=KWARGS, label_space=AFFWILD2_EXPRESSIONS,
                     preprocessing=Preprocessing((3, size, size), (0.5,) * 3, (0.5,) * 3),
                     outputs=list(OUTPUTS),
                     extra={"au_labels": list(AFFWILD2_ACTION_UNITS.labels)})
    return save_model(model, card, folder / f"{name}{seed}"), model
