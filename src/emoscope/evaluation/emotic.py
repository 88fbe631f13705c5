"""EMOTIC scores of a multi-stream model: mAP with per-class AP over the 26 categories and VAD
mean absolute error on the 1-10 scale (AP definition: see ``evaluation.multilabel``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from emoscope.data.emotic.dataset import EmoticDataset, VadStats
from emoscope.errors import UserError
from emoscope.evaluation.multilabel import mean_average_precision, vad_mae
from emoscope.models.files.checkpoint import ModelCard

log = logging.getLogger(__name__)


def score_outputs(collected: dict[str, np.ndarray], labels: Sequence[str],
                  vad_stats: VadStats | None = None) -> dict[str, Any]:
    """mAP / per-class AP from category logits, VAD MAE on 1-10 from VAD outputs.

    collected: ``categories`` (N, C) logits and ``categories_target``; ``vad`` (N, 3) and
    ``vad_target`` (both normalised when ``vad_stats`` is given).
    """
    report: dict[str, Any] = {}
    if "categories" in collected:
        scores = 1.0 / (1.0 + np.exp(-collected["categories"].astype(np.float64)))
        report.update(mean_average_precision(collected["categories_target"], scores, labels))
    if "vad" in collected:
        predictions, targets = collected["vad"], collected["vad_target"]
        width = predictions.shape[1]  # a valence/arousal head predicts the first two of VAD
        targets = targets[:, :width]
        if vad_stats is not None:
            stats = VadStats(vad_stats.low[:width], vad_stats.high[:width])
            predictions, targets = stats.denormalise(predictions), stats.denormalise(targets)
        report["vad_mae"] = vad_mae(targets, predictions,
                                    ("valence", "arousal", "dominance")[:width])
        report.setdefault("n", int(len(targets)))
    return report


@torch.no_grad()
def predict_emotic(network: nn.Module, dataset: EmoticDataset, batch_size: int = 64,
                   device: str | torch.device = "cpu",
                   num_workers: int = 0) -> dict[str, np.ndarray]:
    """Model outputs and targets over ``dataset``, in the keys ``score_outputs`` reads."""
    network = network.to(device).eval()
    collected: dict[str, list[np.ndarray]] = {}
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    for batch in loader:
        inputs = {k: v.to(device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        outputs = network(inputs)
        for key in ("categories", "vad"):
            if key in outputs:
                collected.setdefault(key, []).append(outputs[key].float().cpu().numpy())
                collected.setdefault(f"{key}_target", []).append(batch[key].numpy())
    return {k: np.concatenate(v) for k, v in collected.items()}


def card_dataset_options(card: ModelCard) -> dict[str, Any]:
    """Dataset arguments that reproduce a checkpoint's inputs: per-stream preprocessing
    without augmentation, body masking, face visibility and the VAD statistics."""
    stored = card.extra.get("emotic")
    if not stored:
        raise UserError(f"model card '{card.name}' is not an EMOTIC model (no 'emotic' entry)")
    streams = {name: {**spec, "augment": "none"} for name, spec in stored["streams"].items()}
    return {"streams": streams, "mask_body": stored.get("mask_body", False),
            "vad_stats": stored.get("vad_stats"),
            "min_face_visibility": stored.get("min_face_visibility", 0.0)}


def evaluate_emotic(model: Any, root: str | Path, split: str = "test", batch_size: int = 64,
                    device: str | torch.device = "cpu",
                    dataset_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """mAP, per-class AP and VAD MAE of a model (path or (network, card)) on one split."""
    from emoscope.evaluation.evaluate import resolve_model
    from emoscope.registry import DATASETS

    if not Path(root).exists():
        raise UserError(f"{root}: dataset root not found")
    network, card, source = resolve_model(model, "context_emotion", device)
    options = {**card_dataset_options(card), **(dataset_kwargs or {})}
    dataset = DATASETS.build("emotic", root=root, split=split, train=False, **options)
    log.info("evaluating %s on EMOTIC %s (%d persons)", card.name, split, len(dataset))
    started = time.perf_counter()
    collected = predict_emotic(network, dataset, batch_size, device)
    seconds = time.perf_counter() - started
    stats = VadStats.from_dict(options["vad_stats"]) if options.get("vad_stats") else None
    report = score_outputs(collected, card.label_space.labels, stats)
    report.update(model=card.name, model_path=source, dataset="emotic", root=str(root),
                  split=split, seconds=round(seconds, 3),
                  persons_per_second=round(len(dataset) / max(seconds, 1e-9), 1))
    return report
