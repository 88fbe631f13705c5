"""Visual review of an EMOTIC model: a grid of predictions vs ground truth and one sheet per
sample (the image with its body and face boxes, predicted vs true emotions as bars, the
valence-arousal point, per-sample metrics), for samples picked at random, the best, the worst
or the most confident.

Per-sample metrics: ``sample_ap`` (average precision of the person's true labels in the
ranking of its 26 scores), ``f1`` at the per-class thresholds chosen on the validation split
(as in the evaluation report), ``va_error`` (mean absolute valence/arousal error, 1-10) and
``confidence`` (the highest category probability).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.errors import UserError
from emoscope.evaluation.multilabel import average_precision
from emoscope.evaluation.report import choose_thresholds, sigmoid
from emoscope.utils.files import atomic_write_json

log = logging.getLogger(__name__)

MODES = ("random", "best", "worst", "confident")


def sample_metrics(scores: np.ndarray, targets: np.ndarray, thresholds: np.ndarray,
                   va_pred: np.ndarray | None, va_true: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per-person metrics (arrays of length N)."""
    y = np.asarray(targets) > 0.5
    predicted = scores >= thresholds[None, :]
    tp = (predicted & y).sum(1)
    denominator = predicted.sum(1) + y.sum(1)
    metrics = {
        "sample_ap": np.array([average_precision(y[i], scores[i]) for i in range(len(y))]),
        "f1": np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 1.0),
        "confidence": scores.max(1),
    }
    if va_pred is not None and va_true is not None:
        metrics["va_error"] = np.abs(va_pred - va_true).mean(1)
    return metrics


def pick_samples(metrics: dict[str, np.ndarray], mode: str, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` persons: random, best / worst sample AP (VA error breaks ties), or
    the most confident."""
    if mode not in MODES:
        raise UserError(f"unknown review mode '{mode}'; known: {', '.join(MODES)}")
    total = len(metrics["sample_ap"])
    n = min(n, total)
    if mode == "random":
        return np.sort(np.random.default_rng(seed).choice(total, n, replace=False))
    ap = np.nan_to_num(metrics["sample_ap"], nan=-1.0)
    va = metrics.get("va_error", np.zeros(total))
    if mode == "confident":
        order = np.lexsort((np.arange(total), -metrics["confidence"]))
    elif mode == "best":
        order = np.lexsort((va, -ap))
    else:
        order = np.lexsort((-va, np.where(ap < 0, np.inf, ap)))
    return order[:n]


def collect_review(model: Any, root: str | Path, split: str = "test", val_split: str = "val",
                   batch_size: int = 64, device: str = "cpu",
                   dataset_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Predictions, targets, thresholds and per-sample metrics of a model on one split."""
    from emoscope.data.emotic.dataset import VadStats
    from emoscope.evaluation.emotic import card_dataset_options, predict_emotic
    from emoscope.evaluation.evaluate import resolve_model
    from emoscope.registry import DATASETS

    if not Path(root).exists():
        raise UserError(f"{root}: dataset root not found")
    network, card, _ = resolve_model(model, "context_emotion", device)
    options = {**card_dataset_options(card), **(dataset_kwargs or {})}
    dataset = DATASETS.build("emotic", root=root, split=split, train=False, **options)
    outputs = predict_emotic(network, dataset, batch_size, device)
    scores, targets = sigmoid(outputs["categories"]), outputs["categories_target"]
    if val_split and val_split != "none":
        val_data = DATASETS.build("emotic", root=root, split=val_split, train=False, **options)
        val = predict_emotic(network, val_data, batch_size, device)
        thresholds = choose_thresholds(sigmoid(val["categories"]), val["categories_target"])
    else:
        thresholds = np.full(scores.shape[1], 0.5)
    va_pred = va_true = None
    if "vad" in outputs:
        width = min(outputs["vad"].shape[1], 2)
        va_pred, va_true = outputs["vad"][:, :width], outputs["vad_target"][:, :width]
        if options.get("vad_stats"):
            stats = VadStats.from_dict(options["vad_stats"])
            stats = VadStats(stats.low[:width], stats.high[:width])
            va_pred, va_true = stats.denormalise(va_pred), stats.denormalise(va_true)
    return {"dataset": dataset, "labels": list(card.label_space.labels), "scores": scores,
            "targets": targets, "thresholds": thresholds, "va_pred": va_pred,
            "va_true": va_true, "model": card.name, "split": split,
            "metrics": sample_metrics(scores, targets, thresholds, va_pred, va_true)}


def write_review(review: dict[str, Any], folder: str | Path, mode: str = "worst", n: int = 8,
                 seed: int = 0) -> dict[str, Any]:
    """``grid.png``, ``sample_<k>.png`` per picked person and ``review.json`` in ``folder``."""
    from emoscope.evaluation import review_plots

    folder = Path(folder)
    picked = pick_samples(review["metrics"], mode, n, seed)
    dataset = review["dataset"]
    entries = []
    for rank, index in enumerate(picked):
        person = dataset.persons[int(index)]
        entry = {"rank": rank, "index": int(index), "key": person.key,
                 "true": [review["labels"][c] for c in np.flatnonzero(
                     review["targets"][index] > 0.5)],
                 "predicted": [review["labels"][c] for c in np.flatnonzero(
                     review["scores"][index] >= review["thresholds"])]}
        entry.update({k: float(v[index]) for k, v in review["metrics"].items()})
        if review["va_pred"] is not None:
            entry["va_pred"] = [float(v) for v in review["va_pred"][index]]
            entry["va_true"] = [float(v) for v in review["va_true"][index]]
        sheet = folder / f"sample_{rank:02d}.png"
        review_plots.plot_sample_sheet(review, dataset, int(index), entry, sheet)
        entry["sheet"] = sheet.name
        entries.append(entry)
    grid = review_plots.plot_grid(review, dataset, picked, folder / "grid.png",
                                  f"{review['model']} on {review['split']}: {mode}")
    summary = {"model": review["model"], "split": review["split"], "mode": mode,
               "thresholds": dict(zip(review["labels"], map(float, review["thresholds"]),
                                      strict=True)),
               "samples": entries, "grid": grid.name}
    atomic_write_json(folder / "review.json", summary)
    return summary
