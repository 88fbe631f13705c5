"""Teacher probabilities of an ensemble of speech models on a RAVDESS split, per clip and per
crop position, for distilling the ensemble into one model later (no teacher needed then).

Each clip's cached log-mel is cut into ``--crops`` evenly spaced windows of the members'
input length (first to last possible start); every member scores every window and the
probabilities are averaged over the members. The .npz holds ``sources`` (file names),
``labels``, ``offsets`` (N, K) start frames, ``probs`` (N, K, classes) float16, ``members``
and ``command``.

    python scripts/export_speech_teacher.py MODEL [MODEL ...] -o teacher.npz [--split train]
        [--crops 5] [--root ../shared/data/ravdess]
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from emoscope.data.audio import fit_frames
from emoscope.evaluation.speech import card_frames, predict_speech
from emoscope.models.files import zoo
from emoscope.models.files.checkpoint import load_model
from emoscope.registry import DATASETS
from emoscope.utils.files import atomic_path


def crop_offsets(length: int, frames: int, crops: int) -> np.ndarray:
    """``crops`` start frames from 0 to ``length - frames`` (all 0 for a short clip)."""
    return np.linspace(0, max(length - frames, 0), crops).round().astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--root", default="../shared/data/ravdess")
    parser.add_argument("--split", default="train")
    parser.add_argument("--crops", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    total, arrays, offsets = None, None, None
    for name in args.models:
        model, card = load_model(zoo.resolve_model_path(name, "speech_emotion"))
        if arrays is None:
            arrays = DATASETS.build("ravdess", root=args.root, split=args.split,
                                    cache_dir=".cache/datasets", front_end=card.extra["audio"],
                                    label_set="8")
            frames = card_frames(card)
            offsets = np.stack([crop_offsets(int(n), frames, args.crops)
                                for n in arrays.lengths])
        crops = [fit_frames(arrays.clip(i), frames, int(o))
                 for i in range(len(arrays)) for o in offsets[i]]
        probs = predict_speech(model, crops).reshape(len(arrays), args.crops, -1)
        total = probs if total is None else total + probs
        print(f"{name}: clip accuracy of the centre-most crop "
              f"{(probs[:, args.crops // 2].argmax(1) == arrays.labels).mean():.4f}")
    teacher = (total / len(args.models)).astype(np.float16)
    print(f"ensemble of {len(args.models)}: accuracy of the centre-most crop "
          f"{(teacher[:, args.crops // 2].argmax(1) == arrays.labels).mean():.4f}")
    with atomic_path(args.out) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, sources=np.array([Path(s).name for s in arrays.sources]),
                                labels=arrays.labels, offsets=offsets, probs=teacher,
                                members=np.array(args.models),
                                command=np.array(shlex.join([sys.argv[0], *sys.argv[1:]])))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
