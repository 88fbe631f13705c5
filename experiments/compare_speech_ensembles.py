"""Score speech models, and every probability-averaged combination of them, on RAVDESS
validation actors (centred 3 s crop per clip): accuracy and UAR in %, one line each.

    python experiments/compare_speech_ensembles.py MODEL [MODEL ...] [--root ../shared/data/ravdess]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch

from emoscope.evaluation.speech import card_frames, predict_speech
from emoscope.models.files import zoo
from emoscope.models.files.checkpoint import load_model
from emoscope.registry import DATASETS


def accuracy_uar(labels: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    predicted = probs.argmax(1)
    recalls = [(predicted[labels == c] == c).mean() for c in np.unique(labels)]
    return 100 * float((predicted == labels).mean()), 100 * float(np.mean(recalls))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--root", default="../shared/data/ravdess")
    parser.add_argument("--split", default="val")
    args = parser.parse_args()
    torch.set_num_threads(1)
    probs, labels = {}, None
    for name in args.models:
        model, card = load_model(zoo.resolve_model_path(name, "speech_emotion"))
        arrays = DATASETS.build("ravdess", root=args.root, split=args.split,
                                cache_dir=".cache/datasets", front_end=card.extra["audio"],
                                label_set="8")
        labels, frames = arrays.labels, card_frames(card)
        probs[name] = predict_speech(model, arrays.centred_crops(frames))
    for size in range(1, len(args.models) + 1):
        for combo in itertools.combinations(args.models, size):
            acc, uar = accuracy_uar(labels, sum(probs[m] for m in combo) / size)
            print(f"{acc:6.2f}% acc  {uar:6.2f}% UAR  {' + '.join(combo)}")


if __name__ == "__main__":
    main()
