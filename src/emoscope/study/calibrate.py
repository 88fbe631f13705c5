"""Fit a softmax temperature for a face model on held-out faces and report ECE before/after.

The temperature is fitted (negative log-likelihood) on faces the model did not train on, e.g.
the ``holdout`` split of ``fer2013_pipeline`` (training faces kept out of training, as the
pipeline crops them); PublicTest may be given as ``--check`` to report ECE there, never to fit.
``--write-card`` stores ``extra.temperature`` in the model's card when it lowers the ECE of the
fitting faces; ``FacePredictor`` and ``evaluate`` apply it.

    python -m emoscope.study.calibrate --model runs/x/model.json --dataset fer2013_pipeline \\
        --root ../shared/data/fer2013 --split holdout --data crops=<file.npz> \\
        --check fer2013:test [--write-card] [--json report.json]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.errors import UserError
from emoscope.evaluation.calibration import dataset_ece, fit_temperature, negative_log_likelihood

log = logging.getLogger(__name__)


def model_probabilities(network: Any, card: Any, dataset: str, root: str | Path, split: str,
                        dataset_kwargs: dict[str, Any] | None = None,
                        batch_size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(softmax at T=1 over the model's classes, the dataset's columns in them, targets)."""
    from emoscope.evaluation.evaluate import label_columns, predict_probabilities
    from emoscope.registry import DATASETS

    if not Path(root).exists():
        raise UserError(f"{root}: dataset root not found")
    arrays = DATASETS.get(dataset)(root=root, split=split, **(dataset_kwargs or {}))
    columns = label_columns(card.label_space.labels, arrays.label_space.labels)
    probs = predict_probabilities(network, card, arrays.images, batch_size)
    return probs, columns, arrays.labels


def calibrate(model: str | Path, dataset: str, root: str | Path, split: str,
              dataset_kwargs: dict[str, Any] | None = None,
              checks: list[tuple[str, str, str]] = ()) -> dict[str, Any]:
    """The fitted temperature, NLL and ECE before/after on the fitting faces, and ECE
    before/after on each ``(dataset, root, split)`` of ``checks`` (reported, not fitted)."""
    from emoscope.evaluation.evaluate import resolve_model

    network, card, source = resolve_model(model, runtime="torch")
    probs, columns, targets = model_probabilities(network, card, dataset, root, split,
                                                  dataset_kwargs)
    log_probs = np.log(np.clip(probs, 1e-12, None))
    model_targets = columns[targets]
    temperature = fit_temperature(log_probs, model_targets)
    report: dict[str, Any] = {
        "model": card.name, "model_path": source, "fitted_on": f"{dataset}:{split}",
        "n": int(len(targets)), "temperature": round(temperature, 4),
        "nll_before": negative_log_likelihood(log_probs, model_targets, 1.0),
        "nll_after": negative_log_likelihood(log_probs, model_targets, temperature),
        "ece_before": dataset_ece(probs, columns, targets),
        "ece_after": dataset_ece(probs, columns, targets, temperature),
        "checks": {},
    }
    for name, check_root, check_split in checks:
        probs, columns, targets = model_probabilities(network, card, name, check_root,
                                                      check_split)
        report["checks"][f"{name}:{check_split}"] = {
            "n": int(len(targets)),
            "ece_before": dataset_ece(probs, columns, targets),
            "ece_after": dataset_ece(probs, columns, targets, temperature),
        }
    return report


def store_temperature(card_path: Path, temperature: float) -> None:
    """Write ``extra.temperature`` into a model card JSON (other fields untouched)."""
    from emoscope.utils.files import atomic_write_json

    card = json.loads(card_path.read_text())
    card.setdefault("extra", {})["temperature"] = round(float(temperature), 4)
    atomic_write_json(card_path, card)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="model card (.json) or shipped name")
    parser.add_argument("--dataset", default="fer2013_pipeline")
    parser.add_argument("--root", default="../shared/data/fer2013")
    parser.add_argument("--split", default="holdout")
    parser.add_argument("--data", action="append", default=[], help="dataset key=value")
    parser.add_argument("--check", action="append", default=[],
                        help="DATASET:SPLIT (same root) to report ECE on, e.g. fer2013:test")
    parser.add_argument("--write-card", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from emoscope.config import parse_key_values

    checks = [(c.split(":")[0], args.root, c.split(":")[1]) for c in args.check]
    report = calibrate(args.model, args.dataset, args.root, args.split,
                       parse_key_values(args.data, "--data"), checks)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    helps = report["ece_after"] < report["ece_before"]
    card_path = Path(str(report["model_path"])).with_suffix(".json")
    if args.write_card and helps and card_path.is_file():
        store_temperature(card_path, report["temperature"])
        print(f"temperature {report['temperature']} stored in {card_path}")
    elif args.write_card:
        print("card left unchanged (the temperature does not lower the ECE, or the model is "
              "not a card file)")


if __name__ == "__main__":
    main()
