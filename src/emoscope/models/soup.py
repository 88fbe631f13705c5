"""Weight soups: one network whose weights are the mean of several fine-tuned models'.

Models fine-tuned from a common ancestor often lie in one basin of the loss, where the
average of their weights scores at least as well as each (Wortsman et al. 2022, "model
soups"; Izmailov et al. 2018, SWA) at the cost of a single network, unlike an ensemble.
Batch-norm running statistics are averaged too, but averaged weights do not produce exactly
the averaged activation statistics, so :func:`recalibrate_batchnorm` can re-estimate them on
training images, as SWA does.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from emoscope.errors import UserError
from emoscope.models.files.checkpoint import ModelCard, load_model, save_model
from emoscope.models.model_inputs import model_input_batches


def _same_network(first: ModelCard, other: ModelCard, source: str) -> None:
    checks = (("architecture", (first.architecture, first.architecture_kwargs),
               (other.architecture, other.architecture_kwargs)),
              ("label space", first.label_space, other.label_space),
              ("preprocessing", first.preprocessing, other.preprocessing),
              ("grayscale rule", first.grayscale, other.grayscale))
    for what, mine, theirs in checks:
        if mine != theirs:
            raise UserError(f"{source}: its {what} differs from the first model's; a soup "
                            "averages the weights of one architecture")


def average_weights(paths: Sequence[str | Path], name: str = "soup",
                    ) -> tuple[nn.Module, ModelCard]:
    """The uniform mean of the weights of model files or checkpoints with one architecture.

    Integer buffers (batch-norm step counters) are taken from the first model."""
    if len(paths) < 2:
        raise UserError("a soup needs at least two models")
    first_model, first_card = load_model(paths[0])
    # a running sum, so only two networks are ever in memory
    sums = {key: value.clone() for key, value in first_model.state_dict().items()}
    members = [{"name": first_card.name, "path": str(paths[0]), "scores": first_card.scores}]
    for path in paths[1:]:
        model, card = load_model(path)
        _same_network(first_card, card, str(path))
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                sums[key] += value
        members.append({"name": card.name, "path": str(path), "scores": card.scores})
    first_model.load_state_dict({key: value / len(paths) if value.is_floating_point() else value
                                 for key, value in sums.items()})
    card = dataclasses.replace(
        first_card, name=name, scores={}, command="",
        data=f"weight soup of {len(paths)}: {first_card.data}",
        recipe=json.dumps({"soup": [str(p) for p in paths]}),
        extra={**{k: v for k, v in first_card.extra.items() if k != "soup_members"},
               "soup_members": members})
    return first_model.eval(), card


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, card: ModelCard, images: np.ndarray,
                          batch_size: int = 256) -> int:
    """Re-estimate every batch-norm layer's running mean and variance as the exact average
    over ``images`` (decoded uint8 faces, preprocessed as the card says); everything else in
    ``model`` stays in eval mode. Returns the number of layers re-estimated."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or len(images) == 0:
        return 0
    model.eval()
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the batches below
        norm.train()
    try:
        for inputs in model_input_batches(card, images, batch_size):
            model(inputs)
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        model.eval()
    return len(norms)


def save_soup(paths: Sequence[str | Path], out: str | Path, name: str | None = None,
              command: str = "", bn_images: np.ndarray | None = None,
              bn_source: str = "") -> Path:
    """Average ``paths`` into one model file ``out`` (.safetensors + .json); with
    ``bn_images``, re-estimate its batch-norm statistics on them first."""
    out = Path(out)
    model, card = average_weights(paths, name or out.with_suffix("").name)
    if bn_images is not None:
        layers = recalibrate_batchnorm(model, card, bn_images)
        card.extra["soup_batchnorm"] = (f"{layers} batch-norm layers re-estimated on "
                                        f"{len(bn_images)} faces of {bn_source}")
    card.command = command
    return save_model(model, card, out)
