"""Ensembles of face or speech models that share a label space and preprocessing: the members' class
probabilities (softmax, or sigmoid for multi-label spaces), valence/arousal and action-unit
probabilities are averaged. Image members may differ in input size: the ensemble takes the
largest, and each smaller member sees the images resized to its own size (bicubic, antialiased).

An ensemble is an ordinary model file: its card names the ``ensemble`` architecture with the
members' cards as arguments, and its safetensors hold every member's weights. So anything that
loads a model (``analyze``, ``webcam``, ``evaluate``) loads an ensemble. ``forward`` returns
logits whose softmax / sigmoid is exactly the averaged probability (log of the mean, and the
logit of the mean), so consumers need not know they hold an ensemble.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from emoscope.errors import UserError
from emoscope.models.files.checkpoint import ModelCard, build_from_card, load_model, save_model
from emoscope.registry import MODELS

_EPS = 1e-7


@MODELS.register("ensemble")
class EnsembleModel(nn.Module):
    """Members rebuilt from their cards; ``average`` gives the mean probabilities."""

    def __init__(self, members: Sequence[dict[str, Any]], pretrained: str = "none", **_: Any):
        super().__init__()
        if not members:
            raise UserError("an ensemble needs at least one member")
        cards = [ModelCard.from_dict(m, f"ensemble member {i}") for i, m in enumerate(members)]
        self.multi_label = cards[0].label_space.kind == "multi_label"
        self.members = nn.ModuleList(build_from_card(card) for card in cards)
        self.member_sizes = [_image_size(card) for card in cards]

    def _expression_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=1)

    def average(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean over members: ``probabilities``, and ``valence_arousal`` /
        ``action_unit_probabilities`` when the members have those heads."""
        sums: dict[str, torch.Tensor] = {}
        views: dict[tuple[int, int] | None, torch.Tensor] = {}  # one resize per distinct size
        for member, size in zip(self.members, self.member_sizes, strict=True):
            if size not in views:
                views[size] = _resized(images, size)
            out = member(views[size])
            out = out if isinstance(out, dict) else {"logits": out}
            values = {"probabilities": self._expression_probabilities(out["logits"].float())}
            if "valence_arousal" in out:
                values["valence_arousal"] = out["valence_arousal"].float()
            if "action_units" in out:
                values["action_unit_probabilities"] = torch.sigmoid(out["action_units"].float())
            for key, value in values.items():
                sums[key] = value if key not in sums else sums[key] + value
        return {key: value / len(self.members) for key, value in sums.items()}

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        mean = self.average(images)
        probs = mean["probabilities"].clamp(_EPS, 1 - _EPS if self.multi_label else 1.0)
        out = {"logits": torch.logit(probs) if self.multi_label else torch.log(probs)}
        if "valence_arousal" in mean:
            out["valence_arousal"] = mean["valence_arousal"]
        if "action_unit_probabilities" in mean:
            out["action_units"] = torch.logit(mean["action_unit_probabilities"].clamp(
                _EPS, 1 - _EPS))
        return out


def with_mirror_image(probabilities: torch.Tensor,
                      logits_of: Callable[[torch.Tensor], torch.Tensor],
                      images: torch.Tensor) -> torch.Tensor:
    """Flip test-time augmentation: ``probabilities`` (the softmax of ``images``) averaged with
    the softmax of ``logits_of`` the mirror images (flipped left-right)."""
    mirrored = logits_of(torch.flip(images, dims=[3])).float().softmax(1)
    return (probabilities + mirrored) / 2


def _image_size(card: ModelCard) -> tuple[int, int] | None:
    """(height, width) of an image member; None for a spectrogram member, which takes any
    length (1 s timeline windows) and is never resized."""
    if card.extra.get("audio") is not None:
        return None
    _, height, width = card.preprocessing.input_size
    return height, width


def _resized(images: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    if size is None or images.ndim != 4 or tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images, size=size, mode="bicubic", align_corners=False, antialias=True)


def _preprocessing_but_size(card: ModelCard) -> dict[str, Any]:
    """The preprocessing that must match; an image model's height and width may differ."""
    prep = card.preprocessing.to_dict()
    if _image_size(card) is not None:
        prep["input_size"] = prep["input_size"][:1]
    return prep


def _compatible(first: ModelCard, other: ModelCard, source: str) -> None:
    checks = (("label space", first.label_space, other.label_space),
              ("preprocessing", _preprocessing_but_size(first), _preprocessing_but_size(other)),
              ("grayscale rule", first.grayscale, other.grayscale),
              ("outputs", list(first.outputs), list(other.outputs)),
              ("action units", first.extra.get("au_labels"), other.extra.get("au_labels")),
              ("audio front end", first.extra.get("audio"), other.extra.get("audio")))
    for what, mine, theirs in checks:
        if mine != theirs:
            raise UserError(f"{source}: its {what} differs from the first member's; ensemble "
                            "members must share labels, preprocessing and heads")


def build_ensemble(paths: Sequence[str | Path], name: str = "ensemble",
                   ) -> tuple[EnsembleModel, ModelCard]:
    """An ensemble of model files or training checkpoints (``.safetensors``/``.json``/``.ckpt``)."""
    if not paths:
        raise UserError("an ensemble needs at least one member")
    loaded = [load_model(path) for path in paths]
    first = loaded[0][1]
    for (_, card), path in zip(loaded[1:], paths[1:], strict=True):
        _compatible(first, card, str(path))
    member_cards = [card.to_dict() for _, card in loaded]
    model = EnsembleModel(member_cards)
    for slot, (network, _) in zip(model.members, loaded, strict=True):
        slot.load_state_dict(network.state_dict())
    # members share channels (and, for spectrograms, the whole size): the largest image wins
    largest = max((card for _, card in loaded),
                  key=lambda card: math.prod(card.preprocessing.input_size))
    extra = {key: value for key, value in first.extra.items() if key != "members"}
    extra["members"] = [{"name": card.name, "path": str(path), "scores": card.scores}
                        for (_, card), path in zip(loaded, paths, strict=True)]
    card = ModelCard(
        name=name, architecture="ensemble", architecture_kwargs={"members": member_cards},
        label_space=first.label_space, preprocessing=largest.preprocessing,
        grayscale=first.grayscale, outputs=list(first.outputs), task=first.task,
        data=f"ensemble of {len(loaded)}: " + "; ".join(c.data for _, c in loaded if c.data),
        recipe=json.dumps({"members": [str(p) for p in paths]}), extra=extra)
    return model.eval(), card


def save_ensemble(paths: Sequence[str | Path], out: str | Path, name: str | None = None,
                  command: str = "", precision: str = "float32") -> Path:
    """Build an ensemble from ``paths`` and write it as ``out`` (.safetensors + .json) with its
    weights stored in ``precision`` (``float32``, ``float16`` or ``int8``)."""
    out = Path(out)
    model, card = build_ensemble(paths, name or out.with_suffix("").name)
    card.command = command
    return save_model(model, card, out, precision=precision)
