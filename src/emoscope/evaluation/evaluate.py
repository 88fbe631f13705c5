"""Score a model on a labelled face dataset with the preprocessing its model card declares."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emoscope.data.faces import FaceArrays
from emoscope.errors import UserError
from emoscope.evaluation.calibration import dataset_ece
from emoscope.evaluation.metrics import classification_report
from emoscope.labels import canonical_label
from emoscope.models.files.checkpoint import ModelCard
from emoscope.models.model_inputs import model_input_arrays, model_input_batches
from emoscope.utils.files import atomic_write_json

if TYPE_CHECKING:  # torch is imported where a PyTorch model runs: shipped models evaluate on
    import torch  # ONNX Runtime without it
    from torch import nn

log = logging.getLogger(__name__)

ModelArg = str | Path | tuple[Any, ModelCard] | None


def label_columns(model_labels: Sequence[str], dataset_labels: Sequence[str]) -> np.ndarray:
    """For each dataset label, the model output column with the same (canonical) name."""
    columns = {canonical_label(name): i for i, name in enumerate(model_labels)}
    missing = [name for name in dataset_labels if canonical_label(name) not in columns]
    if missing:
        raise UserError(f"the model cannot predict dataset label(s) {', '.join(missing)}; "
                        f"model labels: {', '.join(model_labels)}")
    return np.array([columns[canonical_label(name)] for name in dataset_labels], dtype=np.int64)


def predict_probabilities(
    model: Any,
    card: ModelCard,
    images: np.ndarray,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    tta_flip: bool = False,
) -> np.ndarray:
    """Softmax scores (N, model classes); with ``tta_flip`` the mean over the image and its
    mirror image. ``model``: a PyTorch module or an ``OnnxModel`` (no torch needed)."""
    from emoscope.models.files.onnx_runtime import OnnxModel, softmax

    if isinstance(model, OnnxModel):
        outputs = []
        for inputs in model_input_arrays(card, images, batch_size):
            probs = softmax(model.run(inputs)["logits"])
            if tta_flip:
                mirrored = np.ascontiguousarray(inputs[..., ::-1])
                probs = (probs + softmax(model.run(mirrored)["logits"])) / 2
            outputs.append(probs)
        return np.concatenate(outputs)
    return _predict_torch(model, card, images, batch_size, device, tta_flip)


def _predict_torch(model: nn.Module, card: ModelCard, images: np.ndarray, batch_size: int,
                   device: str | torch.device, tta_flip: bool) -> np.ndarray:
    import torch

    from emoscope.models.ensemble import with_mirror_image

    model = model.to(device).eval()
    if device == "cpu" or str(device).startswith("cpu"):
        model = model.to(memory_format=torch.channels_last)
    outputs = []
    with torch.inference_mode():
        for inputs in model_input_batches(card, images, batch_size, device):
            probs = model(inputs)["logits"].float().softmax(1)
            if tta_flip:
                probs = with_mirror_image(probs, lambda x: model(x)["logits"], inputs)
            outputs.append(probs.cpu())
    return torch.cat(outputs).numpy()


def evaluate_arrays(
    model: nn.Module,
    card: ModelCard,
    arrays: FaceArrays,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    tta_flip: bool = False,
) -> dict[str, Any]:
    """Scores of ``model`` on decoded faces, in the dataset's label space.

    When the model knows more classes than the dataset (FER+ contempt on FER2013), the
    prediction is the best of the dataset's classes.
    """
    columns = label_columns(card.label_space.labels, arrays.label_space.labels)
    started = time.perf_counter()
    probs = predict_probabilities(model, card, arrays.images, batch_size, device, tta_flip)
    seconds = time.perf_counter() - started
    predictions = probs[:, columns].argmax(1)
    report = classification_report(arrays.labels, predictions, arrays.label_space.labels)
    temperature = float(card.extra.get("temperature", 1.0) or 1.0)
    report["ece"] = dataset_ece(probs, columns, arrays.labels, temperature)
    report["temperature"] = temperature
    report.update(
        model=card.name,
        tta_flip=tta_flip,
        input_size=list(card.preprocessing.input_size),
        seconds=round(seconds, 3),
        faces_per_second=round(len(arrays) / max(seconds, 1e-9), 1),
    )
    if list(columns) != list(range(card.label_space.num_classes)):
        report["model_labels"] = list(card.label_space.labels)
    return report


def resolve_model(model: ModelArg, task: str = "face_expression",
                  device: str | torch.device = "cpu",
                  runtime: str = "torch") -> tuple[nn.Module, ModelCard, str]:
    """A loaded (model, card, source): from a shipped name, a file path, None (the task's
    default model) or an already-loaded (model, card) pair; runtime ``onnx`` gives an ONNX
    Runtime session that answers like the model (``inference/onnx_backend.py``)."""
    if isinstance(model, tuple):
        network, card = model
        return network, card, card.name
    from emoscope.models.files.loading import load_for_inference

    loaded = load_for_inference(model, task, runtime, str(device))
    if loaded.runtime == "onnx":
        return loaded.network, loaded.card, f"{model or loaded.card.name} (onnx)"
    return loaded.network, loaded.card, loaded.source


def _check_dataset_arguments(loader: Any, dataset: str, kwargs: dict[str, Any]) -> None:
    """``--data`` keys the dataset does not take, or that the command sets itself: one line."""
    import inspect

    own = sorted(set(kwargs) & {"root", "split", "cache_dir"})
    if own:
        raise UserError(f"--data {own[0]}=...: set by the command itself, not through --data")
    try:
        parameters = inspect.signature(loader).parameters.values()
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    unknown = sorted(set(kwargs) - {p.name for p in parameters})
    if unknown:
        raise UserError(f"--data {unknown[0]}: dataset '{dataset}' takes no such argument "
                        f"(it takes: {', '.join(p.name for p in parameters)})")


def evaluate_model(
    model: ModelArg = None,
    dataset: str = "fer2013",
    root: str | Path = "../shared/data/fer2013",
    split: str = "test",
    tta_flip: bool = False,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    cache_dir: str | Path | None = None,
    dataset_kwargs: dict[str, Any] | None = None,
    task: str = "face_expression",
    runtime: str = "auto",
) -> dict[str, Any]:
    """Accuracy (0-1), macro-F1, per-class scores and the confusion matrix of a model on one
    split of a registered dataset; preprocessing comes from the model card only."""
    from emoscope.registry import DATASETS

    loader = DATASETS.get(dataset)
    if not Path(root).exists():
        raise UserError(f"{root}: dataset root not found")
    network, card, source = resolve_model(model, task, device, runtime)
    _check_dataset_arguments(loader, dataset, dataset_kwargs or {})
    arrays = loader(root=root, split=split, cache_dir=cache_dir, **(dataset_kwargs or {}))
    if arrays.label_space.kind != "single_label":
        raise UserError(f"dataset '{dataset}' is {arrays.label_space.kind}; evaluate scores "
                        "single-label classification")
    log.info("evaluating %s on %s %s (%d faces)", card.name, dataset, split, len(arrays))
    report = evaluate_arrays(network, card, arrays, batch_size, device, tta_flip)
    from emoscope.models.files.onnx_runtime import OnnxModel

    report.update(model_path=source, dataset=dataset, root=str(root), split=split,
                  runtime="onnx" if isinstance(network, OnnxModel) else "torch")
    return report


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    """The report as indented JSON, written atomically."""
    path = Path(path)
    atomic_write_json(path, report)
    return path
