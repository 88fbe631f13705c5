"""Copy a trained face-expression run into the package as a shipped model, with a model card
that records the data, the recipe, the exact command and the scores measured here.

    python scripts/ship_face_model.py runs/ship/fer2013-lite0 --name fer2013-lite0 \
        --data-root ../shared/data/fer2013
    python scripts/ship_face_model.py runs/ens/pair.json --name fer2013-lite0x2 --precision float16
    python scripts/ship_face_model.py RUN --name fer2013-lite0 --extra notes.json  # + hand notes
    python scripts/ship_face_model.py runs/ferplus/ferplus-lite0 --name ferplus-lite0 \
        --dataset ferplus

Scores are measured on PublicTest twice: on the registered faces, and through the analysis
pipeline (``evaluate --protocol pipeline``: faces set into frames, detected, aligned, cropped).

The source is a training run's folder (model + config.yaml) or a model file such as an
``emoscope ensemble`` output, whose card already holds its recipe and command.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml
from card_notes import merge_notes

from emoscope.evaluation.evaluate import evaluate_model
from emoscope.models.files.checkpoint import ModelCard, load_model, read_card, save_model
from emoscope.models.files.weight_storage import PRECISIONS, compress, expand
from emoscope.models.files.zoo import WEIGHTS_DIR
from emoscope.study.pipeline_protocol import evaluate_pipeline

DATASET_NOTES = {
    "fer2013": ("FER2013 Training split (28,709 images, Kaggle folder layout); model selected "
                "on PublicTest (3,589 images). PrivateTest was never seen."),
    "ferplus": ("FER+ vote distributions (8 classes with contempt; faces where unknown or "
                "not-a-face win dropped) on the FER2013 Training faces; scored on FER+ majority "
                "labels of PublicTest, which also selected the epoch. PrivateTest was never seen."),
}


def faces_per_second(model: torch.nn.Module, size: int, batch: int, seconds: float = 3.0) -> float:
    model = model.to(memory_format=torch.channels_last).eval()
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model(x)
            count += batch
    return count / (time.perf_counter() - start)


def starting_card(cfg: dict) -> ModelCard | None:
    """The card of the model the run started from (``model.init_from``), if any."""
    start = cfg.get("model", {}).get("init_from")
    return read_card(start) if start else None


def training_commands(own: str, start: ModelCard | None) -> str:
    """The run's own command, preceded by those of the model it started from."""
    return f"{start.command} && {own}" if start else own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path, help="a run folder or a model file (.json)")
    parser.add_argument("--name", default="fer2013-lite0")
    parser.add_argument("--data-root", default="../shared/data/fer2013")
    parser.add_argument("--dataset", default="fer2013", choices=sorted(DATASET_NOTES),
                        help="label set the model is scored on (FER+ reads ../ferplus beside "
                             "the FER2013 root)")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS,
                        help="how the weights are stored")
    parser.add_argument("--extra", type=Path,
                        help="JSON object merged into the card's extra (training_stages, notes)")
    args = parser.parse_args()

    run = args.source if args.source.is_dir() else None
    model_file = run / "model.json" if run else args.source.with_suffix(".json")
    model, card = load_model(model_file)
    # score the weights as they will be stored, not as they were trained
    model.load_state_dict(expand(compress(model.state_dict(), args.precision), model_file))
    plain = evaluate_model((model, card), args.dataset, args.data_root, "test")
    flip = evaluate_model((model, card), args.dataset, args.data_root, "test", tta_flip=True)
    size = card.preprocessing.input_size[-1]
    card.name = args.name
    card.data = DATASET_NOTES[args.dataset]
    key = f"{args.dataset}_publictest"
    card.scores = {
        f"{key}_accuracy": round(plain["accuracy"], 4),
        f"{key}_accuracy_flip_tta": round(flip["accuracy"], 4),
        f"{key}_macro_f1": round(plain["macro_f1"], 4),
    }
    # the pipeline crops depend on this card key, so it is set before they are scored
    card.extra = {**card.extra, "native_resolution": 48}
    with tempfile.TemporaryDirectory() as staging:  # the pipeline protocol loads by path
        staged = save_model(model, card, Path(staging) / args.name, precision=args.precision)
        through = evaluate_pipeline(staged.with_suffix(".json"), args.dataset, args.data_root,
                                    "test")
    card.scores.update({
        f"{key}_pipeline_accuracy": round(through["accuracy"], 4),
        f"{key}_pipeline_detected": round(through["detected"], 4),
        f"{key}_pipeline_accuracy_detected": round(through["accuracy_detected"], 4),
    })
    if run:
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        start = starting_card(cfg)
        card.recipe = yaml.safe_dump(cfg, sort_keys=False)
        card.command = training_commands(card.command, start)
        # counted over every stage, like the command: the starting model's epochs come first
        earlier = int(start.scores.get("epochs_trained", 0)) if start else 0
        card.scores["epochs_trained"] = earlier + int(json.loads(
            (run / "final_metrics.json").read_text())["best"].get("best_epoch", -1)) + 1
    members = card.extra.get("members")
    threads = torch.get_num_threads()
    card.extra = {
        # FER2013 faces are 48x48: the predictor first shrinks crops to this size so that
        # sharp camera crops look like the blurry upsampled faces the model was trained on.
        "native_resolution": 48,
        "per_class_recall": {k: round(v["recall"], 4) for k, v in plain["per_class"].items()},
        "per_class_recall_pipeline": {k: round(v["recall"], 4)
                                      for k, v in through["per_class"].items()},
        "speed_faces_per_s": {
            "batch_1": round(faces_per_second(model, size, 1), 1),
            "batch_64": round(faces_per_second(model, size, 64), 1),
            "machine": f"{platform.processor() or platform.machine()}, {threads} torch threads",
        },
        "measured_with": "python " + " ".join(shlex.quote(a) for a in sys.argv),
    }
    if members:
        card.extra["members"] = members
    card.extra = merge_notes(card.extra, args.extra, set(card.extra))
    save_model(model, card, WEIGHTS_DIR / args.name, precision=args.precision)
    print(json.dumps(card.scores | card.extra["speed_faces_per_s"], indent=2))


if __name__ == "__main__":
    main()
