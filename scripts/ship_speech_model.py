"""Copy a trained speech model (single run or ensemble) into the package with measured scores.

Scores come from the weights as ``--precision`` stores them, on the validation actors (8
classes and the 7-class mapping), measured as ``emoscope evaluate --dataset ravdess --root
ROOT --split val --model NAME`` measures them; they replace whatever the card held.
``--extra FILE`` merges a JSON object into the card's ``extra`` (the record of runs, the
selection note).

    python scripts/ship_speech_model.py runs/speech2/ens/x.safetensors --name NAME
        [--precision int8] [--extra notes.json] [--root ../shared/data/ravdess]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch
from card_notes import merge_notes

from emoscope.evaluation.speech import evaluate_speech_arrays
from emoscope.models.files.checkpoint import load_model, save_model
from emoscope.models.files.weight_storage import PRECISIONS, compress, expand
from emoscope.registry import DATASETS

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "emoscope" / "weights"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--name", required=True)
    parser.add_argument("--root", default="../shared/data/ravdess")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS,
                        help="how the weights are stored")
    parser.add_argument("--extra", type=Path, help="JSON object merged into the card's extra")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, card = load_model(args.model)
    # score the weights as they will be stored, not as they were trained
    model.load_state_dict(expand(compress(model.state_dict(), args.precision), args.model))
    scores, recall = {}, {}
    for label_set, suffix in (("8", ""), ("7", "_7class")):
        arrays = DATASETS.build("ravdess", root=args.root, split="val",
                                cache_dir=".cache/datasets", front_end=card.extra["audio"],
                                label_set=label_set)
        actors = sorted(set(map(int, arrays.speakers)))
        tag = f"ravdess_val_actors_{actors[0]:02d}-{actors[-1]:02d}{suffix}"
        report = evaluate_speech_arrays(model, card, arrays)
        scores[f"{tag}_accuracy"] = round(report["accuracy"], 4)
        scores[f"{tag}_uar"] = round(report["uar"], 4)
        if label_set == "8":
            scores[f"{tag}_macro_f1"] = round(report["macro_f1"], 4)
            scores["val_clip_accuracy"] = scores[f"{tag}_accuracy"]  # what the tests re-check
            scores["val_clip_uar"] = scores[f"{tag}_uar"]
            recall = {k: round(v["recall"], 3) for k, v in report["per_class"].items()}
        print(f"{label_set} classes: accuracy {100 * report['accuracy']:.2f}%  "
              f"UAR {100 * report['uar']:.2f}%  macro-F1 {report['macro_f1']:.3f}")
    extra = {**card.extra, "per_class_recall_val": recall, "shipped_from": args.model,
             "evaluation_command": f"emoscope evaluate --dataset ravdess --root {args.root} "
                                   f"--split val --model {args.name}"}
    extra = merge_notes(extra, args.extra, {"audio", "speakers", "members", "crop_seconds"})
    card = dataclasses.replace(card, name=args.name, scores=scores, extra=extra)
    path = save_model(model, card, WEIGHTS / args.name, precision=args.precision)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
