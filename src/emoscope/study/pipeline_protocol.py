"""``evaluate --protocol pipeline``: score a face model where users meet faces.

Each test face is set into a camera-like frame (``data/framing.py``, seeded by its position in
the split), the frame goes through the analyzer ``analyze`` builds (default detector,
alignment, crop, model; ``inference/analyze.build_analyzer``), and the detected face nearest to
where the face was put is scored. A face with no detection there counts as wrong in
``accuracy``; ``accuracy_detected`` scores only the faces that were found.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.data.faces import FaceArrays
from emoscope.data.framing import DEFAULT_FRAME_SIZE, FramedFace, frame_face
from emoscope.data.video import Frame
from emoscope.errors import UserError
from emoscope.evaluation.calibration import ECE_BINS, expected_calibration_error
from emoscope.evaluation.evaluate import label_columns
from emoscope.evaluation.metrics import classification_report

log = logging.getLogger(__name__)

PROTOCOLS = ("registered", "pipeline")
PIPELINE_DATASETS = ("fer2013", "ferplus")
FRAMING_SEED = 0
# A detection is the placed face when its centre lies inside the true box, or it overlaps it
# this much; of several, the one whose centre is nearest to the true centre.
MATCH_IOU = 0.3


def match_face(boxes: Sequence[Any], true_box: Sequence[float]) -> int | None:
    """Index of the detection that is the placed face (see ``MATCH_IOU``), or None."""
    x0, y0, x1, y1 = true_box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    best, best_distance = None, np.inf
    for i, box in enumerate(boxes):
        bx, by = box.center
        inside = x0 <= bx <= x1 and y0 <= by <= y1
        if not inside and _iou(box, true_box) < MATCH_IOU:
            continue
        distance = float(np.hypot(bx - cx, by - cy))
        if distance < best_distance:
            best, best_distance = i, distance
    return best


def _iou(box: Any, true_box: Sequence[float]) -> float:
    x0, y0, x1, y1 = true_box
    inter_w = min(box.x2, x1) - max(box.x1, x0)
    inter_h = min(box.y2, y1) - max(box.y1, y0)
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    inter = inter_w * inter_h
    return inter / (box.area + (x1 - x0) * (y1 - y0) - inter)


def spread_subset(n: int, limit: int | None) -> np.ndarray:
    """``limit`` indices spread evenly over ``0..n-1`` (all of them when limit is None/0)."""
    if not limit or limit >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def load_faces(dataset: str, root: str | Path, split: str,
               dataset_kwargs: dict[str, Any] | None = None,
               cache_dir: str | Path | None = None) -> FaceArrays:
    """The labelled faces of ``dataset``'s ``split`` (one clear error when there are none)."""
    from emoscope.registry import DATASETS

    if dataset not in PIPELINE_DATASETS:
        raise UserError(f"--protocol pipeline scores face crops of {' or '.join(PIPELINE_DATASETS)}"
                        f"; got dataset '{dataset}'")
    if not Path(root).exists():
        raise UserError(f"{root}: dataset root not found")
    arrays = DATASETS.get(dataset)(root=root, split=split, cache_dir=cache_dir,
                                   **(dataset_kwargs or {}))
    if len(arrays) == 0:
        raise UserError(f"{root}: no {split} faces found")
    return arrays


def framed_frames(arrays: FaceArrays, indices: np.ndarray, seed: int, framed: list[FramedFace],
                  frame_size: tuple[int, int]) -> Iterator[Frame]:
    """Frames for the faces at ``indices`` (each framed by its position in the split);
    ``framed`` collects the placements in the same order."""
    for order, index in enumerate(indices):
        placed = frame_face(arrays.images[index], seed, int(index), frame_size)
        framed.append(placed)
        yield Frame(placed.frame, order, float(order))


def evaluate_pipeline(model: str | Path | None = None, dataset: str = "fer2013",
                      root: str | Path = "../shared/data/fer2013", split: str = "test",
                      limit: int | None = None, seed: int = FRAMING_SEED,
                      frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
                      dataset_kwargs: dict[str, Any] | None = None, **analyze_options: Any
                      ) -> dict[str, Any]:
    """The pipeline protocol's report: ``accuracy``, ``detected``, ``accuracy_detected``,
    ``n``, ``protocol``, per-class recall, the confusion matrix of the detected faces and ECE.

    ``analyze_options`` are ``AnalyzeOptions`` fields (detector, threshold, device, runtime,
    batch_size, align, detector_options, ...); the defaults are ``analyze``'s.
    """
    from emoscope.inference.analyze import AnalyzeOptions, build_analyzer

    arrays = load_faces(dataset, root, split, dataset_kwargs)
    try:
        options = AnalyzeOptions(model=None if model is None else str(model), plots=False,
                                 voice=False, **analyze_options)
    except TypeError as err:
        raise UserError(f"pipeline protocol: {err}") from None
    options.validate()
    analyzer = build_analyzer(options)
    try:
        columns = label_columns(analyzer.labels, arrays.label_space.labels)
        indices = spread_subset(len(arrays), limit)
        framed: list[FramedFace] = []
        log.info("pipeline protocol: %s on %d %s %s faces set into %dx%d frames",
                 analyzer.predictor.card.name, len(indices), dataset, split, *frame_size)
        probs = np.full((len(indices), len(columns)), np.nan)
        for result in analyzer.analyse(framed_frames(arrays, indices, seed, framed, frame_size)):
            order = result.frame.index
            hit = match_face(result.boxes, framed[order].box)
            if hit is not None:
                probs[order] = result.probabilities[hit][columns]
    finally:
        analyzer.detector.close()
    report = pipeline_report(probs, arrays.labels[indices], arrays.label_space.labels)
    report.update(model=analyzer.predictor.card.name, model_path=str(model or ""),
                  dataset=dataset, root=str(root), split=split, limit=limit or None,
                  framing={"generator": "emoscope.data.framing.frame_face", "seed": seed,
                           "frame_size": list(frame_size)},
                  analyzer={"detector": options.detector, "threshold": options.threshold,
                            "min_face": options.min_face, "align": options.align,
                            "detector_options": dict(options.detector_options),
                            "runtime": options.runtime})
    return report


def pipeline_report(probs: np.ndarray, targets: np.ndarray,
                    labels: Sequence[str]) -> dict[str, Any]:
    """Scores of per-face probabilities over ``labels``; rows of NaN are undetected faces."""
    targets = np.asarray(targets, dtype=np.int64)
    found = ~np.isnan(probs).any(1)
    n, n_found = len(targets), int(found.sum())
    predictions = np.where(found, np.nan_to_num(probs).argmax(1), -1)
    correct = predictions == targets
    per_class = {}
    for k, name in enumerate(labels):
        mine = targets == k
        support, hits = int(mine.sum()), int((mine & found).sum())
        per_class[name] = {
            "recall": float(correct[mine].mean()) if support else 0.0,
            "recall_detected": float(correct[mine & found].mean()) if hits else 0.0,
            "detected": hits / support if support else 0.0,
            "support": support,
        }
    report: dict[str, Any] = {
        "protocol": "pipeline",
        "accuracy": float(correct.mean()) if n else 0.0,
        "detected": n_found / n if n else 0.0,
        "accuracy_detected": float(correct[found].mean()) if n_found else 0.0,
        "n": n,
        "n_detected": n_found,
        "per_class": per_class,
        "labels": list(labels),
        "undetected_per_class": [int((~found & (targets == k)).sum())
                                 for k in range(len(labels))],
    }
    if n_found:
        detected = classification_report(targets[found], predictions[found], labels)
        report["macro_f1_detected"] = detected["macro_f1"]
        report["confusion_matrix"] = detected["confusion_matrix"]  # detected faces only
        shares = probs[found] / probs[found].sum(1, keepdims=True)
        report["ece"] = expected_calibration_error(shares, targets[found], ECE_BINS)
        report["ece_bins"] = ECE_BINS
    else:
        report["confusion_matrix"] = np.zeros((len(labels), len(labels)), int).tolist()
    return report
