"""Classifier speed of the shipped face models, measured in one run (faces/s at batch 1 and 64,
64x64 input, 2 torch threads); the first model is measured again at the end so drift in the
machine's speed shows.

    python benchmarks/bench_face_models.py [NAME ...]
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from ship_face_model import faces_per_second  # noqa: E402

from emoscope.models.files.checkpoint import load_model  # noqa: E402
from emoscope.models.files.zoo import WEIGHTS_DIR  # noqa: E402

DEFAULT = ("fer2013-lite0", "fer2013-lite0-pipeline", "ferplus-lite0")


def main(names: list[str]) -> None:
    torch.set_num_threads(2)
    names = names or list(DEFAULT)
    results = []
    for name in [*names, names[0]]:
        model, card = load_model(WEIGHTS_DIR / f"{name}.json")
        size = card.preprocessing.input_size[-1]
        results.append({"model": name, "batch_1": round(faces_per_second(model, size, 1), 1),
                        "batch_64": round(faces_per_second(model, size, 64), 1)})
        print(json.dumps(results[-1]), flush=True)
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads")


if __name__ == "__main__":
    main(sys.argv[1:])
