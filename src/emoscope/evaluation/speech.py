"""Score speech emotion models on spectrogram datasets: accuracy, UAR, confusion matrix and
one prediction per clip."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emoscope.data.speech_arrays import SpeechArrays
from emoscope.errors import UserError
from emoscope.evaluation.metrics import classification_report
from emoscope.labels import label_map
from emoscope.models.checkpoint import ModelCard


def merge_matrix(model_labels: Sequence[str], dataset_labels: Sequence[str]) -> np.ndarray:
    """(model classes, dataset classes) 0/1 matrix: probabilities of model labels summed into
    the dataset label of the same canonical name (calm into neutral when calm is absent)."""
    matrix = label_map(model_labels, dataset_labels).astype(np.float32)
    missing = [name for j, name in enumerate(dataset_labels) if not matrix[:, j].any()]
    if missing:
        raise UserError(f"the model cannot predict dataset label(s) {', '.join(missing)}; "
                        f"model labels: {', '.join(model_labels)}")
    return matrix


def card_frames(card: ModelCard) -> int:
    """Spectrogram frames a speech model was trained on (its card's input width)."""
    return int(card.preprocessing.input_size[-1])


@torch.inference_mode()
def predict_speech(model: nn.Module, spectrograms: Sequence[np.ndarray], batch_size: int = 64,
                   device: str | torch.device = "cpu") -> np.ndarray:
    """Softmax scores (N, model classes) of equally long log-mel spectrograms."""
    model = model.to(device).eval()
    outputs = []
    for start in range(0, len(spectrograms), batch_size):
        batch = torch.from_numpy(np.stack(spectrograms[start:start + batch_size])).to(device)
        outputs.append(model(batch)["logits"].float().softmax(1).cpu())
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    return torch.cat(outputs).numpy()


def check_front_end(card: ModelCard, arrays: SpeechArrays) -> None:
    audio = card.extra.get("audio")
    if audio is None:
        raise UserError(f"model '{card.name}' is not a speech model (its card has no audio "
                        "front end)")
    if audio != arrays.front_end.to_dict():
        raise UserError(f"model '{card.name}' expects audio front end {audio}, the data was "
                        f"prepared with {arrays.front_end.to_dict()}")


def evaluate_speech_arrays(model: nn.Module, card: ModelCard, arrays: SpeechArrays,
                           batch_size: int = 64,
                           device: str | torch.device = "cpu") -> dict[str, Any]:
    """Accuracy and UAR (0-1), per-class scores, confusion matrix and per-clip predictions,
    each clip scored on its centred crop of the model's input length."""
    check_front_end(card, arrays)
    frames = card_frames(card)
    crops = arrays.centred_crops(frames)
    started = time.perf_counter()
    probs = predict_speech(model, crops, batch_size, device)
    seconds = time.perf_counter() - started
    merged = probs @ merge_matrix(card.label_space.labels, arrays.label_space.labels)
    predictions = merged.argmax(1)
    report = classification_report(arrays.labels, predictions, arrays.label_space.labels)
    report["uar"] = report["balanced_accuracy"]
    labels = arrays.label_space.labels
    report["predictions"] = [
        {"source": arrays.sources[i] if arrays.sources else str(i),
         "speaker": int(arrays.speakers[i]) if arrays.speakers is not None else -1,
         "true": labels[arrays.labels[i]], "predicted": labels[predictions[i]],
         **{f"p_{name}": round(float(merged[i, j]), 5) for j, name in enumerate(labels)}}
        for i in range(len(arrays))
    ]
    report.update(model=card.name, seconds=round(seconds, 3),
                  clips_per_second=round(len(arrays) / max(seconds, 1e-9), 1))
    return report


def evaluate_speech_model(model=None, dataset: str = "ravdess",
                          root: str | Path = "../shared/data/ravdess", split: str = "all",
                          batch_size: int = 64, device: str | torch.device = "cpu",
                          cache_dir: str | Path | None = None,
                          dataset_kwargs: dict[str, Any] | None = None,
                          runtime: str = "torch") -> dict[str, Any]:
    """Scores of a speech model (default: the shipped one) on a speech dataset split; the
    spectrograms are computed with the front end the model card declares."""
    from emoscope import components  # noqa: F401  (fills the DATASETS registry)
    from emoscope.evaluation.evaluate import resolve_model
    from emoscope.registry import DATASETS

    if not Path(root).exists():
        raise UserError(f"{root}: dataset root not found")
    network, card, source = resolve_model(model, "speech_emotion", device, runtime)
    if "audio" not in card.extra:
        raise UserError(f"{source}: model '{card.name}' is not a speech model (task "
                        f"{card.task}); pass a speech model or score videos with a face model")
    kwargs = dict(dataset_kwargs or {})
    arrays = DATASETS.build(dataset, root=root, split=split, cache_dir=cache_dir,
                            front_end=card.extra["audio"], **kwargs)
    report = evaluate_speech_arrays(network, card, arrays, batch_size, device)
    report.update(model_path=source, dataset=dataset, root=str(root), split=split,
                  speakers=sorted({int(s) for s in arrays.speakers})
                  if arrays.speakers is not None else [])
    return report


def write_predictions(predictions: list[dict[str, Any]], path: str | Path) -> Path:
    """One row per clip (source, speaker, true, predicted, p_<label>...), written atomically."""
    import pandas as pd

    from emoscope.utils.files import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        pd.DataFrame(predictions).to_csv(tmp, index=False)
    return path
