"""CAER-S scores of context-aware models and CLEF: top-1 accuracy, macro-F1 and per-class
scores of every head side by side (factual = phi(Y_c, Y_e) with the context's direct effect,
factual_model = Y_e, context = Y_c alone, tie = the debiased prediction); a plain model (a
baseline, the face-only control) has ``factual`` only."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from emoscope.errors import UserError
from emoscope.evaluation.metrics import classification_report
from emoscope.models.counterfactual import CounterfactualModel, factual_scores
from emoscope.models.files.checkpoint import ModelCard

log = logging.getLogger(__name__)

HEAD_ORDER = ("factual", "factual_model", "context", "tie")


def head_scores(network: nn.Module,
                outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per head, (N, C) scores whose argmax is that head's prediction."""
    if isinstance(network, CounterfactualModel):
        return {"factual": outputs["fused_log_prob"], "factual_model": outputs["factual"],
                "context": outputs["context"], "tie": outputs["tie"]}
    return {"factual": factual_scores(outputs)}


@torch.no_grad()
def predict_heads(network: nn.Module, dataset: Dataset, batch_size: int = 64,
                  device: str | torch.device = "cpu",
                  num_workers: int = 0) -> dict[str, np.ndarray]:
    """Per head the (N, C) scores, and ``label`` (N,), over ``dataset`` in order."""
    network = network.to(device).eval()
    collected: dict[str, list[np.ndarray]] = {}
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False,
                            num_workers=num_workers):
        inputs = {k: v.to(device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        outputs = network(inputs)
        for head, scores in head_scores(network, outputs).items():
            collected.setdefault(head, []).append(scores.float().cpu().numpy())
        key = "label" if "label" in batch else "categories"  # CAER-S or EMOTIC targets
        collected.setdefault("label", []).append(batch[key].numpy())
        if "vad" in outputs and "vad" in batch:  # EMOT-Net's continuous heads
            collected.setdefault("vad", []).append(outputs["vad"].float().cpu().numpy())
            collected.setdefault("vad_target", []).append(batch["vad"].numpy())
    return {k: np.concatenate(v) for k, v in collected.items()}


def score_heads(collected: dict[str, np.ndarray], labels: Sequence[str]) -> dict[str, Any]:
    """``heads``: a classification report per head (multi-label targets: mAP and per-class
    AP); the main head's (tie when present, else factual) ``accuracy`` / ``macro_f1`` or
    ``mAP`` at the top level."""
    targets = collected["label"]
    if targets.ndim == 2:
        return _score_multilabel(collected, labels)
    heads = {h: classification_report(targets, collected[h].argmax(1), labels)
             for h in HEAD_ORDER if h in collected}
    if not heads:
        raise UserError("no prediction heads to score")
    main = "tie" if "tie" in heads else "factual"
    return {"main_head": main, "accuracy": heads[main]["accuracy"],
            "macro_f1": heads[main]["macro_f1"], "n": int(len(targets)), "heads": heads}


def _score_multilabel(collected: dict[str, np.ndarray], labels: Sequence[str]) -> dict[str, Any]:
    from emoscope.evaluation.multilabel import mean_average_precision, vad_mae

    heads = {h: mean_average_precision(collected["label"], collected[h], labels)
             for h in HEAD_ORDER if h in collected}
    main = "tie" if "tie" in heads else "factual"
    report = {"main_head": main, "mAP": heads[main]["mAP"], "n": int(len(collected["label"])),
              "heads": heads}
    if "vad" in collected:  # on the targets' scale (1-10 unless normalised)
        report["vad_mae"] = vad_mae(collected["vad_target"], collected["vad"])
    return report


def side_by_side(report: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(head, accuracy, macro-F1) rows in ``HEAD_ORDER``; (head, mAP, nan) for multi-label."""
    return [(h, r["accuracy"], r["macro_f1"]) if "accuracy" in r else (h, r["mAP"], float("nan"))
            for h, r in report["heads"].items()]


def card_dataset_options(card: ModelCard) -> tuple[str, dict[str, Any]]:
    """The DATASETS name and arguments that reproduce a model's inputs (no augmentation):
    ``caer_s``, or ``emotic_clef`` for a CLEF model trained on EMOTIC."""
    if "emotic_clef" in card.extra:
        return "emotic_clef", dict(card.extra["emotic_clef"])
    stored = card.extra.get("caer")
    if not stored:
        raise UserError(f"model card '{card.name}' is not a CAER-S / CLEF model (no 'caer' "
                        "entry); train it with a task: clef config")
    return "caer_s", {"streams": stored["streams"], "mask": stored.get("mask", "box")}


def evaluate_caer(model: Any, root: str | Path, split: str = "test", batch_size: int = 64,
                  device: str | torch.device = "cpu",
                  dataset_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every head's scores of a model (path or (network, card)) on one split of the dataset
    it was trained on (CAER-S, or EMOTIC for a CLEF model trained there)."""
    from emoscope.evaluation.evaluate import resolve_model
    from emoscope.registry import DATASETS

    if not Path(root).exists():
        raise UserError(f"{root}: dataset root not found")
    network, card, source = resolve_model(model, "context_emotion", device)
    started = time.perf_counter()
    if card.task == "face_expression" and "caer" not in card.extra:
        name, dataset, collected = "caer_s", *_face_model_scores(
            network, card, root, split, batch_size, device, dataset_kwargs)
    else:
        name, options = card_dataset_options(card)
        dataset = DATASETS.build(name, root=root, split=split, train=False,
                                 **{**options, **(dataset_kwargs or {})})
        log.info("evaluating %s on %s %s (%d samples)", card.name, name, split, len(dataset))
        collected = predict_heads(network, dataset, batch_size, device)
    seconds = time.perf_counter() - started
    report = score_heads(collected, card.label_space.labels)
    report.update(model=card.name, model_path=source, dataset=name, root=str(root),
                  split=split, seconds=round(seconds, 3),
                  samples_per_second=round(len(dataset) / max(seconds, 1e-9), 1))
    return report


def _face_model_scores(network: nn.Module, card: ModelCard, root: str | Path, split: str,
                       batch_size: int, device: str | torch.device,
                       dataset_kwargs: dict[str, Any] | None) -> tuple[Dataset, dict]:
    """A face-expression model (e.g. the shipped ``fer2013-lite0``) on CAER-S face crops, as
    a face-only control trained elsewhere; its labels map onto CAER-S's by name."""
    from emoscope.evaluation.evaluate import label_columns, predict_probabilities
    from emoscope.labels import CAER_S_LABELS
    from emoscope.registry import DATASETS

    columns = label_columns(card.label_space.labels, CAER_S_LABELS.labels)
    size = {"size": card.preprocessing.input_size[-1]}  # raw pixels / 255, no normalisation
    dataset = DATASETS.build("caer_s", root=root, split=split, train=False,
                             streams={"face": size, "context": {"size": 8}},
                             **(dataset_kwargs or {}))
    log.info("evaluating face model %s on CAER-S %s faces (%d frames)", card.name, split,
             len(dataset))
    faces, labels = [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        pixels = (batch["face"] * 255.0).round().clamp(0, 255).to(torch.uint8)
        faces.append(pixels.permute(0, 2, 3, 1).numpy())
        labels.append(batch["label"].numpy())
    probs = predict_probabilities(network, card, np.concatenate(faces), batch_size, device)
    return dataset, {"factual": probs[:, columns], "label": np.concatenate(labels)}


def context_report(models: Sequence[Any], control: Any, root: str | Path, split: str = "test",
                   batch_size: int = 64, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Every head of every model next to the face-only ``control`` on one split: ``rows`` of
    (model, head, score, macro-F1, score minus the control's score); ``control`` and
    ``reports`` keep the full reports."""
    control_report = evaluate_caer(control, root, split, batch_size, device)
    key = "accuracy" if "accuracy" in control_report else "mAP"
    reference = float(control_report[key])
    reports = [evaluate_caer(m, root, split, batch_size, device) for m in models]
    rows = [{"model": control_report["model"], "head": "factual (control)", key: reference,
             "macro_f1": control_report["heads"]["factual"].get("macro_f1"), "vs_control": 0.0}]
    for report in reports:
        for head, score, macro_f1 in side_by_side(report):
            rows.append({"model": report["model"], "head": head, key: float(score),
                         "macro_f1": None if macro_f1 != macro_f1 else float(macro_f1),
                         "vs_control": float(score) - reference})
    return {"metric": key, "split": split, "root": str(root), "rows": rows,
            "control": control_report, "reports": reports}
