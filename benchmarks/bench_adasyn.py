"""Cost of ADASYN feature-space resampling (``emoscope.training.adasyn``) at EMOTIC scale;
prints a Markdown table.

    python benchmarks/bench_adasyn.py [--persons 23000] [--dim 1536] [--threads 2]

The features are random Gaussian vectors with each label's positives shifted along their own
direction (so ADASYN finds majority neighbours, as on real features); the 26 labels' positive
rates fall geometrically from 50% to 0.5% (a long tail like EMOTIC's; not its real counts,
which the project does not have). ``--dim 1536`` is two 768-wide Swin-T streams. The baseline
of every ratio is one epoch of fusion + heads training on the same cached features (batch
32, simple fusion, emotion heads, Adam), measured in the same run: the price of resampling
in epochs of cached training.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import emoscope  # noqa: F401  (sets OMP_WAIT_POLICY before anything loads torch)


def synthetic(persons: int, dim: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    rates = 0.5 * (0.01 ** (np.arange(26) / 25))
    labels = (rng.random((persons, 26)) < rates).astype(np.float32)
    directions = rng.normal(size=(26, dim)).astype(np.float32)
    features = rng.normal(size=(persons, dim)).astype(np.float32) + 0.5 * labels @ directions
    return features, labels


def epoch_seconds(features, labels) -> float:
    import torch

    from emoscope.models.fusion import build_fusion
    from emoscope.registry import HEADS

    fusion = build_fusion("simple", [features.shape[1]], 256, streams=["context"])
    heads = HEADS.build("emotion", in_dim=256)
    optimizer = torch.optim.Adam([*fusion.parameters(), *heads.parameters()], 1e-3)
    x, y = torch.from_numpy(features), torch.from_numpy(labels)
    started = time.perf_counter()
    for start in range(0, len(x) - 1, 32):
        out = heads(fusion({"context": x[start:start + 32]}))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out["categories"],
                                                                    y[start:start + 32])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=23000)
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import imblearn.over_sampling  # noqa: F401  (imports are not part of the timings)
    import sklearn.neighbors  # noqa: F401
    import torch

    from emoscope.training.adasyn import adasyn_multilabel

    torch.set_num_threads(args.threads)
    features, labels = synthetic(args.persons, args.dim)
    baseline = epoch_seconds(features, labels)
    print(f"{args.persons} persons x {args.dim} features, torch {torch.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| step | seconds | persons after | labels resampled | ratio |")
    print("|---|---|---|---|---|")
    print(f"| one cached epoch (fusion + heads) [baseline] | {baseline:.1f} | {args.persons} "
          "| - | 1.00x |")
    for level in ("mini", "full"):
        started = time.perf_counter()
        _, _, counts = adasyn_multilabel(features, labels, level)
        seconds = time.perf_counter() - started
        raised = sum(n > 0 for n in counts["generated"].values())
        print(f"| ADASYN {level} | {seconds:.1f} | {counts['persons_after']} | {raised} "
              f"| {seconds / baseline:.2f}x |")


if __name__ == "__main__":
    main()
