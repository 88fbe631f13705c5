"""The evaluation report of a multi-label (EMOTIC) model: markdown + JSON + PNGs.

Contents: mAP and per-class AP (``evaluation.multilabel``'s definition); per-emotion
precision / recall / F1 at thresholds chosen on the validation split (per class, the score
threshold that maximises that class's F1 on validation, then applied unchanged to the
evaluated split; a class without validation positives keeps 0.5); micro and macro F1 at those
thresholds; VA(D) mean absolute error on the 1-10 scale; a label co-occurrence heatmap; PR
curves. Precision-recall curves and threshold scores come from torchmetrics.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emoscope.utils.files import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
THRESHOLD_RULE = ("per class, the threshold that maximises F1 on the validation split "
                  "({val}), applied unchanged to {split}; classes without validation "
                  "positives keep 0.5")


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def pr_curves(scores: np.ndarray, targets: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """Per class (precision, recall, thresholds) from torchmetrics; len(thresholds) = len - 1."""
    from torchmetrics.functional.classification import multilabel_precision_recall_curve

    with warnings.catch_warnings():  # classes without positives: handled by the callers
        warnings.simplefilter("ignore")
        precision, recall, thresholds = multilabel_precision_recall_curve(
            torch.as_tensor(scores, dtype=torch.float32),
            torch.as_tensor(np.asarray(targets) > 0.5).long(), scores.shape[1])
    return [(p.numpy(), r.numpy(), t.numpy()) for p, r, t in
            zip(precision, recall, thresholds, strict=True)]


def choose_thresholds(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per class, the score threshold with the best F1 (the first of equals); 0.5 without
    positives."""
    positives = (np.asarray(targets) > 0.5).sum(0)
    chosen = np.full(scores.shape[1], DEFAULT_THRESHOLD)
    for c, (precision, recall, thresholds) in enumerate(pr_curves(scores, targets)):
        if positives[c] == 0 or len(thresholds) == 0:
            continue
        p, r = precision[:-1].astype(np.float64), recall[:-1].astype(np.float64)
        f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)
        chosen[c] = float(thresholds[int(np.argmax(f1))])
    return chosen


def threshold_scores(scores: np.ndarray, targets: np.ndarray, thresholds: np.ndarray,
                     labels: Sequence[str]) -> dict[str, Any]:
    """Precision, recall, F1 and support per class at ``thresholds`` (score >= threshold is
    positive), and their micro and macro averages (torchmetrics)."""
    from torchmetrics.functional.classification import (
        multilabel_f1_score,
        multilabel_precision,
        multilabel_recall,
    )

    predicted = torch.as_tensor(np.asarray(scores) >= thresholds[None, :]).long()
    target = torch.as_tensor(np.asarray(targets) > 0.5).long()
    n = len(labels)
    kwargs = {"num_labels": n, "threshold": 0.5, "zero_division": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        per = {name: fn(predicted, target, average="none", **kwargs).numpy()
               for name, fn in (("precision", multilabel_precision),
                                ("recall", multilabel_recall), ("f1", multilabel_f1_score))}
        micro = float(multilabel_f1_score(predicted, target, average="micro", **kwargs))
    support = target.sum(0).numpy()
    rows = {label: {"threshold": float(thresholds[c]), "precision": float(per["precision"][c]),
                    "recall": float(per["recall"][c]), "f1": float(per["f1"][c]),
                    "support": int(support[c])} for c, label in enumerate(labels)}
    with_support = [c for c in range(n) if support[c] > 0]
    macro = float(np.mean(per["f1"][with_support])) if with_support else float("nan")
    return {"per_class": rows, "micro_f1": micro, "macro_f1": macro}


def cooccurrence(targets: np.ndarray) -> np.ndarray:
    """(C, C) counts of persons carrying both labels (the diagonal: each label's count)."""
    y = (np.asarray(targets) > 0.5).astype(np.int64)
    return y.T @ y


def build_report(test: dict[str, np.ndarray], val: dict[str, np.ndarray],
                 labels: Sequence[str], vad_stats: Any = None,
                 meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report's numbers from collected outputs (``predict_emotic``'s keys) of the
    evaluated split (``test``) and the validation split (``val``)."""
    from emoscope.evaluation.emotic import score_outputs

    meta = dict(meta or {})
    report = score_outputs(test, labels, vad_stats)
    scores, targets = sigmoid(test["categories"]), test["categories_target"]
    thresholds = choose_thresholds(sigmoid(val["categories"]), val["categories_target"])
    report["thresholds"] = threshold_scores(scores, targets, thresholds, labels)
    report["threshold_rule"] = THRESHOLD_RULE.format(val=meta.get("val_split", "val"),
                                                     split=meta.get("split", "test"))
    report["cooccurrence"] = cooccurrence(targets).tolist()
    report["labels"] = list(labels)
    report.update(meta)
    return report


def _markdown(report: dict[str, Any], images: dict[str, str]) -> str:
    head = report.get("model", "model")
    lines = [f"# {head} on {report.get('dataset', '')} {report.get('split', '')}", "",
             f"- persons: {report.get('n', 0)}",
             f"- mAP: {100 * report['mAP']:.2f} (per-class AP: scikit-learn's "
             "non-interpolated definition; classes without positives excluded)"
             if report.get("mAP") == report.get("mAP") else "- mAP: n/a",
             f"- F1 at the validation thresholds: micro {report['thresholds']['micro_f1']:.4f}, "
             f"macro {report['thresholds']['macro_f1']:.4f}",
             f"- thresholds: {report['threshold_rule']}"]
    for name, value in (report.get("vad_mae") or {}).items():
        lines.append(f"- MAE {name}: {value:.4f} (1-10 scale)")
    if report.get("no_positives"):
        lines.append("- no positives here (excluded from mAP): "
                     + ", ".join(report["no_positives"]))
    lines += ["", "| emotion | AP | threshold | precision | recall | F1 | support |",
              "|---|---|---|---|---|---|---|"]
    for label, row in report["thresholds"]["per_class"].items():
        ap = report["per_class"].get(label)
        lines.append(f"| {label} | {'n/a' if ap is None else f'{100 * ap:.2f}'} | "
                     f"{row['threshold']:.3f} | {row['precision']:.3f} | {row['recall']:.3f} | "
                     f"{row['f1']:.3f} | {row['support']} |")
    lines.append("")
    lines += [f"![{title}]({name})" for title, name in images.items()]
    return "\n".join(lines) + "\n"


def write_report_files(report: dict[str, Any], test: dict[str, np.ndarray],
                       folder: str | Path) -> dict[str, Path]:
    """``report.md``, ``report.json`` and the PNGs into ``folder``; returns the paths."""
    from emoscope.evaluation import report_plots

    folder = Path(folder)
    labels = report["labels"]
    scores, targets = sigmoid(test["categories"]), test["categories_target"]
    thresholds = np.array([r["threshold"] for r in report["thresholds"]["per_class"].values()])
    pngs = {
        "per-class AP": report_plots.plot_per_class_ap(report["per_class"],
                                                       folder / "per_class_ap.png"),
        "PR curves": report_plots.plot_pr_curves(pr_curves(scores, targets), report["per_class"],
                                                 labels, scores, targets, thresholds,
                                                 folder / "pr_curves.png"),
        "label co-occurrence": report_plots.plot_cooccurrence(
            np.asarray(report["cooccurrence"]), labels, folder / "cooccurrence.png"),
    }
    paths = {"markdown": folder / "report.md", "json": folder / "report.json", **pngs}
    atomic_write_json(paths["json"], report)
    atomic_write_text(paths["markdown"], _markdown(report, {k: p.name for k, p in pngs.items()}))
    return paths


def emotic_report(model: Any, root: str | Path, split: str = "test", folder: str | Path = ".",
                  val_split: str = "val", batch_size: int = 64,
                  device: str | torch.device = "cpu",
                  dataset_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run a model on ``split`` and ``val_split`` of an EMOTIC root and write the report;
    returns the report (a superset of ``evaluate_emotic``'s)."""
    import time

    from emoscope.data.emotic.dataset import VadStats
    from emoscope.errors import UserError
    from emoscope.evaluation.emotic import card_dataset_options, predict_emotic
    from emoscope.evaluation.evaluate import resolve_model
    from emoscope.registry import DATASETS

    if not Path(root).exists():
        raise UserError(f"{root}: dataset root not found")
    network, card, source = resolve_model(model, "context_emotion", device)
    options = {**card_dataset_options(card), **(dataset_kwargs or {})}
    outputs = {}
    started = time.perf_counter()
    for name in dict.fromkeys((split, val_split)):
        dataset = DATASETS.build("emotic", root=root, split=name, train=False, **options)
        log.info("report: %s on EMOTIC %s (%d persons)", card.name, name, len(dataset))
        outputs[name] = predict_emotic(network, dataset, batch_size, device)
    stats = VadStats.from_dict(options["vad_stats"]) if options.get("vad_stats") else None
    meta = {"model": card.name, "model_path": source, "dataset": "emotic", "root": str(root),
            "split": split, "val_split": val_split,
            "seconds": round(time.perf_counter() - started, 3)}
    report = build_report(outputs[split], outputs[val_split], card.label_space.labels, stats,
                          meta)
    report["files"] = {k: str(v) for k, v in
                       write_report_files(report, outputs[split], folder).items()}
    return report
