"""Aff-Wild2 challenge metrics: per-class precision/recall/F1 of the 8 expressions and the 12
action units, CCC of valence and arousal, and the challenge score
``mean CCC + expression macro-F1 + mean AU F1`` (each part over the frames carrying its label).

Precision, recall and F1 come from torchmetrics (``average=None``, zero when undefined). The
expression macro-F1 averages the classes present in the targets or the predictions (the
convention of scikit-learn's ``f1_score`` used by the ABAW baseline code); the AU F1 averages
all 12 units at a 0.5 threshold. CCC uses population moments
(``evaluation.multilabel.ccc``, the formula of ``../shared/docs/datasets.md``, as the ABAW
baseline computes it); torchmetrics' ``ConcordanceCorrCoef`` uses n-1 moments for the
variances and covariance but not for the mean difference, so it gives other values on small
sets (0.8205 instead of 0.8 for x = 1, 2, 3, 4 and y = 2, 2, 4, 4).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchmetrics.functional.classification import (
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
    multilabel_f1_score,
    multilabel_precision,
    multilabel_recall,
)

from emoscope.evaluation.multilabel import ccc
from emoscope.labels import AFFWILD2_ACTION_UNITS, AFFWILD2_EXPRESSIONS
from emoscope.utils.files import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


def _per_class(precision, recall, f1, labels: Sequence[str], support) -> dict[str, dict]:
    return {name: {"precision": float(precision[i]), "recall": float(recall[i]),
                   "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(labels)}


def expression_scores(targets: np.ndarray, probabilities: np.ndarray,
                      labels: Sequence[str] = AFFWILD2_EXPRESSIONS.labels) -> dict[str, Any]:
    """Per-class precision/recall/F1 and macro-F1 on the frames with a label (target >= 0)."""
    targets = np.asarray(targets, np.int64)
    valid = targets >= 0
    if not valid.any():
        return {"macro_f1": float("nan"), "per_class": {}, "n": 0}
    k = len(labels)
    preds = torch.as_tensor(np.asarray(probabilities)[valid]).argmax(1)
    true = torch.as_tensor(targets[valid])
    kwargs = {"num_classes": k, "average": None, "zero_division": 0}
    precision = multiclass_precision(preds, true, **kwargs).numpy()
    recall = multiclass_recall(preds, true, **kwargs).numpy()
    f1 = multiclass_f1_score(preds, true, **kwargs).numpy()
    support = np.bincount(true.numpy(), minlength=k)
    seen = (support > 0) | (np.bincount(preds.numpy(), minlength=k) > 0)
    return {"macro_f1": float(f1[seen].mean()), "accuracy": float((preds == true).float().mean()),
            "per_class": _per_class(precision, recall, f1, labels, support),
            "n": int(valid.sum())}


def action_unit_scores(targets: np.ndarray, probabilities: np.ndarray,
                       labels: Sequence[str] = AFFWILD2_ACTION_UNITS.labels,
                       threshold: float = 0.5) -> dict[str, Any]:
    """Per-unit precision/recall/F1 at ``threshold`` and their mean F1 (frames with all units
    labelled)."""
    targets = np.asarray(targets)
    valid = (targets >= 0).all(axis=1)
    if not valid.any():
        return {"mean_f1": float("nan"), "per_class": {}, "n": 0}
    scores = torch.as_tensor(np.asarray(probabilities, np.float32)[valid])
    true = torch.as_tensor(targets[valid]).long()
    kwargs = {"num_labels": len(labels), "threshold": threshold, "average": None,
              "zero_division": 0}
    precision = multilabel_precision(scores, true, **kwargs).numpy()
    recall = multilabel_recall(scores, true, **kwargs).numpy()
    f1 = multilabel_f1_score(scores, true, **kwargs).numpy()
    return {"mean_f1": float(f1.mean()), "threshold": threshold,
            "per_class": _per_class(precision, recall, f1, labels, true.sum(0).numpy()),
            "n": int(valid.sum())}


def valence_arousal_scores(targets: np.ndarray, predictions: np.ndarray) -> dict[str, Any]:
    """CCC of valence and of arousal, and their mean, on frames with both labels."""
    targets, predictions = np.asarray(targets, np.float64), np.asarray(predictions, np.float64)
    valid = ~np.isnan(targets).any(axis=1)
    if valid.sum() < 2:
        return {"ccc_valence": float("nan"), "ccc_arousal": float("nan"),
                "mean_ccc": float("nan"), "n": int(valid.sum())}
    valence = ccc(predictions[valid, 0], targets[valid, 0])
    arousal = ccc(predictions[valid, 1], targets[valid, 1])
    return {"ccc_valence": valence, "ccc_arousal": arousal, "mean_ccc": (valence + arousal) / 2,
            "n": int(valid.sum())}


def challenge_report(targets: dict[str, np.ndarray], outputs: dict[str, np.ndarray],
                     expression_labels: Sequence[str] = AFFWILD2_EXPRESSIONS.labels,
                     au_labels: Sequence[str] = AFFWILD2_ACTION_UNITS.labels,
                     au_threshold: float = 0.5) -> dict[str, Any]:
    """Every challenge metric from targets (``expression``, ``valence_arousal``,
    ``action_units``, missing markers as in the dataset) and model ``outputs``
    (``probabilities``, ``valence_arousal``, ``action_unit_probabilities``). The score sums
    the parts that could be computed; ``score_parts`` says which."""
    report: dict[str, Any] = {}
    parts: dict[str, float] = {}
    if "probabilities" in outputs and "expression" in targets:
        report["expression"] = expression_scores(targets["expression"],
                                                 outputs["probabilities"], expression_labels)
        parts["expression_f1"] = report["expression"]["macro_f1"]
    if "valence_arousal" in outputs and "valence_arousal" in targets:
        report["valence_arousal"] = valence_arousal_scores(targets["valence_arousal"],
                                                           outputs["valence_arousal"])
        parts["mean_ccc"] = report["valence_arousal"]["mean_ccc"]
    if "action_unit_probabilities" in outputs and "action_units" in targets:
        report["action_units"] = action_unit_scores(
            targets["action_units"], outputs["action_unit_probabilities"], au_labels,
            au_threshold)
        parts["au_f1"] = report["action_units"]["mean_f1"]
    defined = {k: v for k, v in parts.items() if not np.isnan(v)}
    report["score_parts"] = defined
    report["score"] = float(sum(defined.values())) if defined else float("nan")
    return report


def format_report(report: dict[str, Any]) -> str:
    """Plain-text lines: the score and its parts, then per-class tables."""
    lines = [f"challenge score: {report['score']:.4f} (" + " + ".join(
        f"{k} {v:.4f}" for k, v in report["score_parts"].items()) + ")"]
    va = report.get("valence_arousal")
    if va:
        lines.append(f"CCC valence {va['ccc_valence']:.4f}, arousal {va['ccc_arousal']:.4f}, "
                     f"mean {va['mean_ccc']:.4f} ({va['n']} frames)")
    for key, title in (("expression", "expressions"), ("action_units", "action units")):
        section = report.get(key)
        if not section:
            continue
        lines.append(f"{title} ({section['n']} frames): precision recall F1 support")
        for name, row in section["per_class"].items():
            lines.append(f"  {name:<10} {row['precision']:.3f} {row['recall']:.3f} "
                         f"{row['f1']:.3f} {row['support']}")
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], folder: str | Path,
                 stem: str = "affwild2_metrics") -> tuple[Path, Path]:
    """``<stem>.txt`` and ``<stem>.json`` (NaN as null), written atomically."""
    folder = Path(folder)
    text, data = folder / f"{stem}.txt", folder / f"{stem}.json"
    atomic_write_text(text, format_report(report))
    atomic_write_json(data, report)
    return text, data


@torch.inference_mode()
def predict_multitask(model: torch.nn.Module, card, images: np.ndarray, batch_size: int = 128,
                      device: str | torch.device = "cpu") -> dict[str, np.ndarray]:
    """Model outputs on decoded (N, H, W, 3) uint8 frames with the card's preprocessing:
    ``probabilities`` and, for heads the model has, ``valence_arousal`` and
    ``action_unit_probabilities``."""
    from emoscope.data.augment import FaceBatchTransform
    from emoscope.models.model_inputs import model_channels_tensor

    channels, height, _ = card.preprocessing.input_size
    transform = FaceBatchTransform(height, card.preprocessing.mean, card.preprocessing.std)
    model = model.to(device).eval()
    multi_label = card.label_space.kind == "multi_label"
    collected: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(images), batch_size):
        batch = model_channels_tensor(images[start:start + batch_size], card.grayscale).to(device)
        out = model(transform(batch, train=False)[:, :channels])
        logits = out["logits"].float()
        values = {"probabilities": torch.sigmoid(logits) if multi_label else logits.softmax(1)}
        if "valence_arousal" in out:
            values["valence_arousal"] = out["valence_arousal"].float()
        if "action_units" in out:
            values["action_unit_probabilities"] = torch.sigmoid(out["action_units"].float())
        for key, value in values.items():
            collected.setdefault(key, []).append(value.cpu().numpy())
    return {key: np.concatenate(parts) for key, parts in collected.items()}


def dataset_targets(faces) -> dict[str, np.ndarray]:
    """The targets of a ``MultiTaskFaces`` in the keys ``challenge_report`` reads."""
    return {"expression": faces.expressions, "valence_arousal": faces.valence_arousal,
            "action_units": faces.action_units}


def _decoded_size(card) -> int:
    """The frame size the model's training decoded to (its recipe's ``data.image_size``;
    the network input is resized from there on the device), else the frames' native 112."""
    try:
        return int(json.loads(card.recipe)["data"]["image_size"])
    except (ValueError, KeyError, TypeError):
        members = card.architecture_kwargs.get("members") or []
        if members:  # an ensemble: its first member's recipe
            from emoscope.models.files.checkpoint import ModelCard

            return _decoded_size(ModelCard.from_dict(members[0]))
        return 112


def evaluate_affwild2(model, root: str | Path, split: str = "val", batch_size: int = 128,
                      device: str = "cpu", dataset_kwargs: dict[str, Any] | None = None,
                      ) -> dict[str, Any]:
    """Challenge metrics of a model file, checkpoint or ensemble on one Aff-Wild2 split."""
    from emoscope.data.affwild2 import load_affwild2
    from emoscope.errors import UserError
    from emoscope.evaluation.evaluate import resolve_model

    if model is None:
        raise UserError("--dataset affwild2 needs --model (a multi-task model, checkpoint or "
                        "ensemble); no multi-task model ships")
    network, card, source = resolve_model(model, device=device)
    wanted = [name.lower() for name in AFFWILD2_EXPRESSIONS.labels]
    if [name.lower() for name in card.label_space.labels] != wanted:
        raise UserError(f"{source}: the model predicts {', '.join(card.label_space.labels)}; "
                        "Aff-Wild2 scores the 8 expressions "
                        f"{', '.join(AFFWILD2_EXPRESSIONS.labels)}")
    kwargs = dict(dataset_kwargs or {})
    kwargs.setdefault("image_size", _decoded_size(card))
    faces = load_affwild2(root, split, **kwargs)
    log.info("evaluating %s on Aff-Wild2 %s (%s)", card.name, split, faces.counts())
    outputs = predict_multitask(network, card, faces.images, batch_size, device)
    au_labels = card.extra.get("au_labels", AFFWILD2_ACTION_UNITS.labels)
    report = challenge_report(dataset_targets(faces), outputs, card.label_space.labels,
                              au_labels)
    report.update(model=card.name, model_path=source, dataset="affwild2", root=str(root),
                  split=split, counts=faces.counts())
    return report
