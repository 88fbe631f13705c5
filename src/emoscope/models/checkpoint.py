"""Model files: weights in safetensors plus a JSON card (architecture, labels, preprocessing,
data, recipe, measured scores). Never pickled modules."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from emoscope.errors import UserError
from emoscope.labels import LabelSpace
from emoscope.models.backbones import Preprocessing
from emoscope.models.weight_storage import STORED_DTYPE, compress, expand
from emoscope.registry import MODELS
from emoscope.utils.files import atomic_path, atomic_write_text

CARD_FORMAT = "emoscope-model/1"


@dataclass
class ModelCard:
    """Everything needed to rebuild and trust a model besides its weights."""

    name: str
    architecture: str  # a MODELS registry name
    architecture_kwargs: dict[str, Any]
    label_space: LabelSpace
    preprocessing: Preprocessing
    grayscale: bool = False  # the model was trained on grey images copied to 3 channels
    outputs: list[str] = field(default_factory=lambda: ["logits"])
    task: str = "face_expression"
    data: str = ""
    recipe: str = ""
    command: str = ""
    scores: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CARD_FORMAT,
            "name": self.name,
            "task": self.task,
            "architecture": {"name": self.architecture, "kwargs": self.architecture_kwargs},
            "label_space": self.label_space.to_dict(),
            "preprocessing": {**self.preprocessing.to_dict(), "grayscale": self.grayscale},
            "outputs": self.outputs,
            "data": self.data,
            "recipe": self.recipe,
            "command": self.command,
            "scores": self.scores,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<card>") -> ModelCard:
        if data.get("format") != CARD_FORMAT:
            raise UserError(f"{source}: not an emoscope model card (format {data.get('format')!r})")
        try:
            prep = dict(data["preprocessing"])
            grayscale = bool(prep.pop("grayscale", False))
            return cls(
                name=data["name"],
                task=data.get("task", "face_expression"),
                architecture=data["architecture"]["name"],
                architecture_kwargs=dict(data["architecture"].get("kwargs", {})),
                label_space=LabelSpace.from_dict(data["label_space"]),
                preprocessing=Preprocessing.from_dict(prep),
                grayscale=grayscale,
                outputs=list(data.get("outputs", ["logits"])),
                data=data.get("data", ""),
                recipe=data.get("recipe", ""),
                command=data.get("command", ""),
                scores=dict(data.get("scores", {})),
                extra=dict(data.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(f"{source}: model card is incomplete ({err})") from None


def _paths(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_model(model: nn.Module, card: ModelCard, path: str | Path,
               precision: str = "float32") -> Path:
    """Write ``<path>.safetensors`` and ``<path>.json`` atomically; returns the weights path.

    ``precision`` ``float16`` halves the file, ``int8`` quarters its convolution and linear
    weights (see ``weight_storage``); loading expands them back into float32 parameters.
    """
    weights, card_path = _paths(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors = compress(tensors, precision)
    extra = {k: v for k, v in card.extra.items() if k != "stored_dtype"}
    if precision in STORED_DTYPE:
        extra["stored_dtype"] = STORED_DTYPE[precision]
    card = dataclasses.replace(card, extra=extra)
    with atomic_path(weights) as tmp:
        save_file(tensors, str(tmp), metadata={"format": CARD_FORMAT, "name": card.name})
    atomic_write_text(card_path, json.dumps(card.to_dict(), indent=2) + "\n")
    return weights


def read_card(path: str | Path) -> ModelCard:
    _, card_path = _paths(path)
    if not card_path.is_file():
        raise UserError(f"{card_path}: model card not found (expected beside the weights)")
    try:
        data = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{card_path}: model card is not valid JSON") from None
    return ModelCard.from_dict(data, str(card_path))


def build_from_card(card: ModelCard) -> nn.Module:
    from emoscope import components  # noqa: F401  (every architecture registered)

    kwargs = dict(card.architecture_kwargs)
    kwargs["pretrained"] = "none"  # weights come from the file
    return MODELS.build(card.architecture, **kwargs)


def _load_strict(model: nn.Module, state: dict[str, torch.Tensor], source: Path,
                 architecture: str) -> None:
    """Load every key or fail with one line; shapes that differ fail the same way."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        example = (missing or unexpected)[0]
        raise UserError(
            f"{source}: weights do not fit architecture '{architecture}' ({len(missing)} missing, "
            f"{len(unexpected)} unexpected keys, e.g. '{example}')"
        )
    wrong = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if wrong:
        raise UserError(f"{source}: weights do not fit architecture '{architecture}' "
                        f"({len(wrong)} tensors of another shape, e.g. '{wrong[0]}')")
    model.load_state_dict(state, strict=True)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelCard]:
    """Rebuild a model from its card and load its safetensors weights (strict), in eval mode.

    A Lightning ``.ckpt`` written by ``emoscope train`` loads too (see
    ``load_training_checkpoint``).
    """
    if Path(path).suffix == ".ckpt":
        return load_training_checkpoint(path, device)
    weights, _ = _paths(path)
    card = read_card(path)
    if not weights.is_file():
        raise UserError(f"{weights}: weights file not found")
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"{weights}: not a readable safetensors file ({err})") from None
    model = build_from_card(card)
    _load_strict(model, expand(state, weights), weights, card.architecture)
    return model.to(device).eval(), card


def load_training_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelCard]:
    """The network of a Lightning checkpoint from ``emoscope train``, read with
    ``weights_only=True`` (no code is unpickled); its model card travels inside it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types; none is the user's bug
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"{path}: not a loadable weights-only checkpoint ({reason[:160]})"
        ) from None
    if not isinstance(checkpoint, dict) or "emoscope_card" not in checkpoint:
        raise UserError(f"{path}: not an emoscope training checkpoint (no model card inside)")
    card = ModelCard.from_dict(checkpoint["emoscope_card"], str(path))
    prefix = "network."
    state = {k[len(prefix):]: v for k, v in checkpoint.get("state_dict", {}).items()
             if k.startswith(prefix)}
    model = build_from_card(card)
    _load_strict(model, state, path, card.architecture)
    return model.to(device).eval(), card
