"""Planted context shortcut: test accuracy of a context-aware model trained plainly, the
face-only control and CLEF around the same model (every head), over several seeds.

The data is ``emoscope.data.caer_shortcut`` (CAER-S layout): the background colour equals the
label in ``--correlation`` of the training frames and is random in the test frames, the face
carries the true label (low contrast). Models use the tests' tiny CNN backbone
(``tests/tiny_components.py``) on 32x32 inputs, Adam 3e-3, batch 32, ``--steps`` steps.

    python benchmarks/clef_shortcut.py --seeds 5
    python benchmarks/clef_shortcut.py --write /tmp/shortcut   # the data only, for the CLI

Prints one row per model/head: mean, min and max test accuracy over the seeds, and the gain
of each head over the plainly trained factual model measured in the same run.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import tiny_components  # noqa: E402,F401  (registers tiny_cnn_test)
from emoscope.data.caer_s import load_caer_s  # noqa: E402
from emoscope.data.caer_shortcut import write_shortcut_caer  # noqa: E402
from emoscope.models.counterfactual import CounterfactualModel  # noqa: E402
from emoscope.registry import MODELS  # noqa: E402
from emoscope.training.losses_counterfactual import CounterfactualLoss  # noqa: E402

TINY = "tiny_cnn_test"
CAERNET = {"face": TINY, "context": TINY, "width": 32, "hidden_dim": 32, "dropout": 0.0,
           "image_sizes": {"face": 32, "context_masked": 32}}


def tensors(root: Path, split: str) -> dict[str, torch.Tensor]:
    spec = {"size": 32, "mean": [0.5] * 3, "std": [0.5] * 3}
    dataset = load_caer_s(root, split, streams={"face": spec, "context": spec}, train=False)
    items = [dataset[i] for i in range(len(dataset))]
    return {k: torch.stack([item[k] for item in items]) for k in items[0]}


def build(kind: str) -> tuple[torch.nn.Module, CounterfactualLoss | None]:
    if kind == "caernet_s":
        return MODELS.build("caernet_s", **CAERNET), None
    if kind == "face_only":
        return MODELS.build("face_only", face=TINY, image_size=32, dropout=0.0), None
    fusion = kind.split("_")[1]  # clef_sum, clef_harmonic
    model = CounterfactualModel({"architecture": "caernet_s", "kwargs": CAERNET}, 7,
                                context_backbone=TINY, fusion=fusion)
    return model, CounterfactualLoss()


def run(kind: str, train: dict, test: dict, seed: int, steps: int) -> dict[str, float]:
    torch.manual_seed(seed)
    model, loss_fn = build(kind)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(steps):
        rows = torch.randint(0, len(train["label"]), (32,), generator=generator)
        batch = {k: v[rows] for k, v in train.items()}
        out = model(batch)
        if loss_fn is None:
            loss = F.cross_entropy(out["logits"], batch["label"])
        else:
            loss = loss_fn(out, batch["label"], model, step)["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        out = model(test)
    heads = {"factual": "logits"} if loss_fn is None else {
        "factual": "fused_log_prob", "factual_model": "factual", "context": "context",
        "tie": "tie"}
    return {h: float((out[k].argmax(1) == test["label"]).float().mean()) for h, k in heads.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--correlation", type=float, default=0.95)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write", metavar="ROOT", help="only write the dataset (CAER-S "
                        "layout) to ROOT, e.g. for emoscope train / evaluate, and exit")
    args = parser.parse_args()
    if args.write:
        print(write_shortcut_caer(Path(args.write), 40, 30, args.correlation, seed=0))
        return
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        root = write_shortcut_caer(Path(folder) / "CAER-S", 40, 30, args.correlation, seed=0)
        train, test = tensors(root, "train"), tensors(root, "test")
    kinds = ("caernet_s", "face_only", "clef_sum", "clef_harmonic")
    results: dict[str, dict[str, list[float]]] = {k: {} for k in kinds}
    started = time.perf_counter()
    for seed in range(args.seeds):
        for kind in kinds:
            for head, acc in run(kind, train, test, seed, args.steps).items():
                results[kind].setdefault(head, []).append(acc)
    seconds = time.perf_counter() - started
    baseline = float(np.mean(results["caernet_s"]["factual"]))
    print(f"planted shortcut: correlation {args.correlation} in train, 0 in test; "
          f"{len(train['label'])} train / {len(test['label'])} test frames, 3 classes; "
          f"{args.seeds} seeds x {args.steps} steps; {seconds:.0f} s")
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch thread(s), "
          f"torch {torch.__version__}")
    print("| model | head | test accuracy mean | min | max | vs plain CAER-Net-S |")
    print("|---|---|---|---|---|---|")
    for kind in kinds:
        for head, values in results[kind].items():
            mean = float(np.mean(values))
            print(f"| {kind} | {head} | {mean:.3f} | {min(values):.3f} | {max(values):.3f} | "
                  f"{mean - baseline:+.3f} |")


if __name__ == "__main__":
    main()
