"""Score speech emotion models on spectrogram datasets: accuracy, UAR, confusion matrix and
one prediction per clip."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.data.speech_arrays import SpeechArrays
from emoscope.errors import UserError
from emoscope.evaluation.metrics import classification_report
from emoscope.labels import label_map
from emoscope.models.files.checkpoint import ModelCard


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


def predict_speech(model: Any, spectrograms: Sequence[np.ndarray], batch_size: int = 64,
                   device: str = "cpu",
                   waves: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """Softmax scores (N, model classes) of equally long log-mel spectrograms, on any runtime
    (PyTorch, ONNX Runtime, or a numpy ``speech_linear`` model, which may also read the
    waveforms ``waves`` the spectrograms came from)."""
    from emoscope.models.files.loading import predict_softmax
    from emoscope.models.speech_linear import LinearSpeechModel

    if isinstance(model, LinearSpeechModel):
        # one call per speaker group for speaker-normalised models (see evaluate_speech_arrays)
        if model.speaker_norm:  # every clip of the group counts, as in training
            return model.predict(spectrograms, waves, np.ones(len(spectrograms), dtype=bool))
        parts = [model.predict(spectrograms[i:i + batch_size],
                               None if waves is None else waves[i:i + batch_size])
                 for i in range(0, len(spectrograms), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
    return predict_softmax(model, list(spectrograms), batch_size, str(device))


def check_front_end(card: ModelCard, arrays: SpeechArrays) -> None:
    audio = card.extra.get("audio")
    if audio is None:
        raise UserError(f"model '{card.name}' is not a speech model (its card has no audio "
                        "front end)")
    if audio != arrays.front_end.to_dict():
        raise UserError(f"model '{card.name}' expects audio front end {audio}, the data was "
                        f"prepared with {arrays.front_end.to_dict()}")


def evaluate_speech_arrays(model: Any, card: ModelCard, arrays: SpeechArrays,
                           batch_size: int = 64, device: str = "cpu",
                           waves: Sequence[np.ndarray] | None = None) -> dict[str, Any]:
    """Accuracy and UAR (0-1), per-class scores, confusion matrix and per-clip predictions,
    each clip scored on its centred crop of the model's input length (and its whole waveform,
    in ``waves``, for models that read one)."""
    check_front_end(card, arrays)
    if card.extra.get("crop_seconds", 3.0) == 0:  # a model read whole clips in training
        crops = [arrays.clip(i) for i in range(len(arrays))]
    else:
        crops = arrays.centred_crops(card_frames(card))
    started = time.perf_counter()
    if getattr(model, "speaker_norm", False) and arrays.speakers is not None:
        probs = _per_speaker(model, crops, waves, arrays.speakers, batch_size, device)
    else:
        probs = predict_speech(model, crops, batch_size, device, waves)
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


def _per_speaker(model, crops, waves, speakers, batch_size, device) -> np.ndarray:
    """Scores of a speaker-normalised model, each speaker's clips normalised together."""
    probs = None
    for speaker in np.unique(speakers):
        rows = np.flatnonzero(speakers == speaker)
        part = predict_speech(model, [crops[i] for i in rows], batch_size, device,
                              None if waves is None else [waves[i] for i in rows])
        if probs is None:
            probs = np.zeros((len(crops), part.shape[1]), dtype=np.float32)
        probs[rows] = part
    return probs


def evaluate_speech_model(model=None, dataset: str = "ravdess",
                          root: str | Path = "../shared/data/ravdess", split: str = "all",
                          batch_size: int = 64, device: str = "cpu",
                          cache_dir: str | Path | None = None,
                          dataset_kwargs: dict[str, Any] | None = None,
                          runtime: str = "torch") -> dict[str, Any]:
    """Scores of a speech model (default: the shipped one) on a speech dataset split; the
    spectrograms are computed with the front end the model card declares."""
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
    waves = None
    if getattr(network, "needs_waves", False):  # eGeMAPS of each clip's whole waveform
        from emoscope.data.audio import load_audio

        rate = int(card.extra["audio"].get("sample_rate", 16000))
        waves = [load_audio(Path(root) / source, rate)[0] for source in arrays.sources]
    report = evaluate_speech_arrays(network, card, arrays, batch_size, device, waves)
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
