"""Model files: weights in safetensors plus a JSON card (architecture, labels, preprocessing,
data, recipe, measured scores). Never pickled modules."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emoscope.errors import UserError
from emoscope.labels import LabelSpace
from emoscope.models.preprocessing import Preprocessing
from emoscope.registry import MODELS
from emoscope.utils.files import atomic_path, atomic_write_text

if TYPE_CHECKING:  # torch is imported where a network is built, loaded or saved: reading a
    import torch  # card (the ONNX Runtime path of analysis) stays free of it
    from torch import nn

CARD_FORMAT = "emoscope-model/1"

# Bounds on what a card may ask for, checked before anything is built or allocated: one input
# (channels x height x width) of at most 4 channels, 2048 values a side and 1.2 M values in all
# (3 x 640 x 640: 4.9 MB in float32, 315 MB for a batch of 64 faces).
MAX_INPUT_CHANNELS = 4
MAX_INPUT_SIDE = 2048
MAX_INPUT_VALUES = 3 * 640 * 640
# A speech card's audio front end (extra.audio): rates and sizes a resampler and an STFT can use.
AUDIO_BOUNDS = {"sample_rate": (1000, 192_000), "n_mels": (1, 512), "n_fft": (16, 16_384),
                "hop_length": (1, 16_384)}


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
            card = cls(
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
        check_card(card, source)
        return card


def check_card(card: ModelCard, source: str = "<card>") -> None:
    """UserError naming ``source`` when the card asks for an input or audio front end beyond
    the bounds above, or names another number of classes than it has labels."""
    _check_input_size(card.preprocessing, source)
    _check_audio(card.extra.get("audio"), source)
    _check_types(card, source)
    labels = len(card.label_space.labels)
    classes = card.architecture_kwargs.get("num_classes")
    if card.label_space.kind == "single_label" and classes is not None and classes != labels:
        raise UserError(f"{source}: the card lists {labels} labels but its architecture has "
                        f"num_classes={classes}")
    for i, member in enumerate(card.architecture_kwargs.get("members") or []):
        member_labels = (member.get("label_space") or {}).get("labels") \
            if isinstance(member, dict) else None
        if member_labels is not None and len(member_labels) != labels:
            raise UserError(f"{source}: the card lists {labels} labels but ensemble member {i} "
                            f"has {len(member_labels)}")


def _check_types(card: ModelCard, source: str) -> None:
    """Fields that are read as text or whole numbers are text and whole numbers."""
    texts = {"name": card.name, "task": card.task, "architecture.name": card.architecture,
             "preprocessing.interpolation": card.preprocessing.interpolation}
    for field_name, value in texts.items():
        if not isinstance(value, str):
            raise UserError(f"{source}: {field_name} must be text, got {value!r}")
    for field_name, values in (("label_space.labels", card.label_space.labels),
                               ("outputs", card.outputs)):
        if not values or not all(isinstance(v, str) and v for v in values):
            raise UserError(f"{source}: {field_name} must be a list of names, got "
                            f"{list(values)!r}")
    native = card.extra.get("native_resolution", 0)
    if native is not None and (not isinstance(native, int) or isinstance(native, bool)
                               or not 0 <= native <= MAX_INPUT_SIDE):
        raise UserError(f"{source}: extra.native_resolution must be a whole number of pixels "
                        f"from 0 to {MAX_INPUT_SIDE}, got {native!r}")


def _check_input_size(prep: Preprocessing, source: str) -> None:
    size = prep.input_size
    if len(size) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                 for v in size):
        raise UserError(f"{source}: preprocessing.input_size must be three positive integers "
                        f"(channels, height, width), got {list(size)}")
    channels, height, width = size
    if (channels > MAX_INPUT_CHANNELS or max(height, width) > MAX_INPUT_SIDE
            or channels * height * width > MAX_INPUT_VALUES):
        raise UserError(f"{source}: preprocessing.input_size {list(size)} is beyond the "
                        f"supported bounds (at most {MAX_INPUT_CHANNELS} channels, "
                        f"{MAX_INPUT_SIDE} a side, {MAX_INPUT_VALUES:,} values)")
    for name in ("mean", "std"):
        values = getattr(prep, name)
        if len(values) not in (1, channels) or not all(
                isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise UserError(f"{source}: preprocessing.{name} must be 1 or {channels} finite "
                            f"numbers, got {list(values)}")
    if any(v <= 0 for v in prep.std):
        raise UserError(f"{source}: preprocessing.std must be positive, got {list(prep.std)}")


def _check_audio(audio: object, source: str) -> None:
    if audio is None:
        return
    if not isinstance(audio, dict):
        raise UserError(f"{source}: extra.audio must be a mapping, got {type(audio).__name__}")
    for key, (low, high) in AUDIO_BOUNDS.items():
        value = audio.get(key)
        if value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool) \
                or not low <= value <= high:
            raise UserError(f"{source}: extra.audio.{key} must be between {low} and {high}, "
                            f"got {value!r}")


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
    from safetensors.torch import save_file

    from emoscope.models.files.weight_storage import STORED_DTYPE, compress

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


def build_from_card(card: ModelCard, source: str | Path | None = None) -> nn.Module:
    """The card's architecture with random weights; arguments the architecture does not take,
    or values it refuses, are one UserError naming ``source`` (the card), not a traceback."""
    source = source or card.name
    factory = MODELS.get(card.architecture)
    kwargs = dict(card.architecture_kwargs)
    kwargs["pretrained"] = "none"  # weights come from the file
    unknown = _unaccepted_arguments(factory, kwargs)
    if unknown:
        raise UserError(f"{source}: architecture '{card.architecture}' takes no argument "
                        f"{', '.join(repr(k) for k in unknown)}")
    try:
        return factory(**kwargs)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{source}: architecture '{card.architecture}' cannot be built from "
                        f"the card's arguments ({reason})") from None


def _unaccepted_arguments(factory: object, kwargs: dict[str, Any]) -> list[str]:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no signature to read: let the call decide
        return []
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return []
    names = {p.name for p in parameters
             if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
    return sorted(k for k in kwargs if k not in names and k != "pretrained")


def _check_fit(own: dict[str, tuple[int, ...]], stored: dict[str, tuple[int, ...]],
               source: Path, architecture: str) -> None:
    """Every key of the network in the weights and of the same shape, or one line."""
    missing = [k for k in own if k not in stored]
    unexpected = [k for k in stored if k not in own]
    if missing or unexpected:
        example = (missing or unexpected)[0]
        raise UserError(
            f"{source}: weights do not fit architecture '{architecture}' ({len(missing)} missing, "
            f"{len(unexpected)} unexpected keys, e.g. '{example}')"
        )
    wrong = [k for k in own if tuple(own[k]) != tuple(stored[k])]
    if wrong:
        raise UserError(f"{source}: weights do not fit architecture '{architecture}' "
                        f"({len(wrong)} tensors of another shape, e.g. '{wrong[0]}')")


def _shapes(state: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def _load_strict(model: nn.Module, state: dict[str, torch.Tensor], source: Path,
                 architecture: str) -> None:
    """Load every key or fail with one line; shapes that differ fail the same way."""
    _check_fit(_shapes(model.state_dict()), _shapes(state), source, architecture)
    model.load_state_dict(state, strict=True)


def _skeleton(card: ModelCard, card_path: Path, weights: Path) -> nn.Module | None:
    """The card's network built on PyTorch's meta device (shapes, no memory), checked against
    the tensor shapes in the weights file's header: a card asking for other or larger tensors
    than its weights hold fails here, before anything is allocated. None when the network
    cannot be built without memory (it is then checked when its weights load)."""
    import torch
    from safetensors import SafetensorError, safe_open

    from emoscope.models.files.weight_storage import stored_shapes

    try:
        with safe_open(str(weights), framework="numpy") as handle:
            header = {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"{weights}: not a readable safetensors file ({err})") from None
    try:
        with torch.device("meta"):
            skeleton = build_from_card(card, card_path)
    except (NotImplementedError, RuntimeError):
        return None
    _check_fit(_shapes(skeleton.state_dict()), stored_shapes(header), weights, card.architecture)
    return skeleton


def _filled(skeleton: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module | None:
    """``skeleton`` holding ``state`` (in its own dtypes), or None when it keeps tensors the
    weights do not set (buffers outside the state dict): those need a real build."""
    own = skeleton.state_dict()
    state = {k: v.to(own[k].dtype) if v.is_floating_point() else v for k, v in state.items()}
    skeleton.load_state_dict(state, strict=True, assign=True)
    tensors = [*skeleton.parameters(), *skeleton.buffers()]
    return None if any(t.is_meta for t in tensors) else skeleton


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelCard]:
    """Rebuild a model from its card and load its safetensors weights (strict), in eval mode.

    A Lightning ``.ckpt`` written by ``emoscope train`` loads too (see
    ``load_training_checkpoint``).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from emoscope.models.files.weight_storage import expand

    if Path(path).suffix == ".ckpt":
        return load_training_checkpoint(path, device)
    weights, card_path = _paths(path)
    card = read_card(path)
    if not weights.is_file():
        raise UserError(f"{weights}: weights file not found")
    skeleton = _skeleton(card, card_path, weights)
    try:
        state = expand(load_file(str(weights), device="cpu"), weights)
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"{weights}: not a readable safetensors file ({err})") from None
    model = _filled(skeleton, state) if skeleton is not None else None
    if model is None:  # built again in memory: the network has tensors of its own
        model = build_from_card(card, card_path)
        _load_strict(model, state, weights, card.architecture)
    return model.to(device).eval(), card


def read_weights_only(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)``; a file that is not one (pickled code, truncated,
    not a torch file) is one UserError naming it."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types; none is the user's bug
        raise UserError(f"{path}: not a loadable weights-only checkpoint "
                        f"({_unpickling_reason(err)})") from None


def _unpickling_reason(err: BaseException) -> str:
    """The part of torch's long refusal that names the problem, in whole words."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    refused = re.search(r"GLOBAL ([\w.]+)", text)
    if refused:
        return (f"it would import '{refused.group(1)}': pickled code is refused, only tensors "
                "and plain values are loaded")
    if "central directory" in text or "failed reading" in text:
        return "truncated or damaged: not a complete torch archive"
    unpickler = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    noise = ("Weights only load failed", "Please file an issue", "Check the documentation",
             "(1)", "(2)")
    useful = [line for line in lines if not line.startswith(noise)]
    reason = (unpickler.group(1) if unpickler and unpickler.group(1).strip()
              else (useful or lines or [type(err).__name__])[0])
    reason = reason.split(". ")[0].strip().rstrip(".")
    if isinstance(err, (KeyError, IndexError, EOFError)) or not re.search("[A-Za-z]{3}", reason):
        return "not a torch checkpoint file: unreadable from its first bytes"
    if len(reason) > 160:
        reason = reason[:160].rsplit(" ", 1)[0] + " ..."
    return reason


def load_training_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelCard]:
    """The network of a Lightning checkpoint from ``emoscope train``, read with
    ``weights_only=True`` (no code is unpickled); its model card travels inside it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    checkpoint = read_weights_only(path)
    if not isinstance(checkpoint, dict) or "emoscope_card" not in checkpoint:
        raise UserError(f"{path}: not an emoscope training checkpoint (no model card inside)")
    card = ModelCard.from_dict(checkpoint["emoscope_card"], str(path))
    prefix = "network."
    state = {k[len(prefix):]: v for k, v in checkpoint.get("state_dict", {}).items()
             if k.startswith(prefix)}
    model = build_from_card(card, path)
    _load_strict(model, state, path, card.architecture)
    return model.to(device).eval(), card


def check_resumable(path: str | Path, module: nn.Module | None) -> None:
    """UserError naming ``path`` unless it is a weights-only training checkpoint whose
    ``state_dict`` fits ``module`` (the run being resumed): truncated files and checkpoints of
    another run fail here in one line, before training starts."""
    path = Path(path)
    checkpoint = read_weights_only(path)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise UserError(f"{path}: not a training checkpoint (no state_dict); delete it to start "
                        "the run afresh")
    if module is None:
        return
    own, stored = module.state_dict(), checkpoint["state_dict"]
    missing = [k for k in own if k not in stored]
    unexpected = [k for k in stored if k not in own]
    wrong = [k for k in own if k in stored and hasattr(stored[k], "shape")
             and tuple(own[k].shape) != tuple(stored[k].shape)]
    if missing or unexpected or wrong:
        example = (missing or unexpected or wrong)[0]
        raise UserError(f"{path}: a checkpoint of another model, not of this run "
                        f"({len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} "
                        f"reshaped tensors, e.g. '{example}')")
