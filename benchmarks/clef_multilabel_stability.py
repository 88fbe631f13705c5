"""Multi-label CLEF: the naive objective of public reproductions against emoscope's.

naive: the SUM fusion's ``log sigma(Y_c + Y_e)`` fed to BCE-with-logits as if it were a logit
(so its "probability" sigma(log sigma(x)) can never exceed 0.5: positives push the logits up
without bound). emoscope: the Bernoulli likelihood of p = sigma(Y_c + Y_e) itself, logits
soft-clamped to +-12, effects in probability space, 10 warm-up steps of the factual model.

Data: 4 categories drawn as bright patches (40% positive rate); factual model a two-stream
MultiStreamModel, context branch the tests' tiny CNN; Adam ``--lr``, batch 16.

    python benchmarks/clef_multilabel_stability.py --steps 300 --lr 1e-2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import tiny_components  # noqa: E402,F401  (registers tiny_cnn_test)
from emoscope.evaluation.multilabel import mean_average_precision  # noqa: E402
from emoscope.models.counterfactual import CounterfactualModel  # noqa: E402
from emoscope.training.losses_counterfactual import CounterfactualLoss  # noqa: E402

TINY = "tiny_cnn_test"


def data(n: int, seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    labels = (torch.rand(n, 4, generator=gen) < 0.4).float()
    images = 0.1 * torch.randn(n, 3, 32, 32, generator=gen)
    for c in range(4):
        images[:, :, 2 + 7 * c:7 + 7 * c, 2:12] += 2 * labels[:, c, None, None, None]
    return {"context": images, "body": images.clone(), "context_masked": images.clone()}, labels


def model(clamp: float, space: str) -> CounterfactualModel:
    factual = {"architecture": "multistream",
               "kwargs": {"context": TINY, "body": TINY, "fusion_dim": 16,
                          "heads": "multilabel", "head_kwargs": {"num_classes": 4}}}
    return CounterfactualModel(factual, 4, context_backbone=TINY, kind="multi_label",
                               clamp=clamp, space=space)


def naive_loss(outputs, targets, network, step):
    return F.binary_cross_entropy_with_logits(outputs["fused_log_prob"], targets) \
        + F.binary_cross_entropy_with_logits(outputs["context"], targets)


def run(variant: str, steps: int, lr: float, seed: int) -> dict[str, float]:
    torch.manual_seed(seed)
    if variant == "naive":
        network, loss_fn = model(0.0, "log"), naive_loss
    else:
        network, clef = model(12.0, "prob"), CounterfactualLoss(warmup_steps=10)
        loss_fn = lambda o, t, m, s: clef(o, t, m, s)["loss"]  # noqa: E731
    optimiser = torch.optim.Adam(network.parameters(), lr=lr)
    batch, labels = data(64, seed)
    peak = 0.0
    for step in range(steps):
        rows = torch.arange(step * 16, step * 16 + 16) % 64
        outputs = network({k: v[rows] for k, v in batch.items()})
        loss = loss_fn(outputs, labels[rows], network, step)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        peak = max(peak, float(outputs["factual"].detach().abs().max()))
    network.eval()
    with torch.no_grad():
        out = network(batch)
    test, test_labels = data(64, seed + 100)
    with torch.no_grad():
        held_out = network(test)
    finite = bool(torch.isfinite(held_out["tie"]).all())
    tie_map = mean_average_precision(test_labels.numpy(), np.nan_to_num(
        held_out["tie"].numpy()))["mAP"] if finite else float("nan")
    return {"peak_logit": peak, "final_loss": float(loss.detach()), "finite": finite,
            "train_mAP": mean_average_precision(labels.numpy(), np.nan_to_num(
                out["tie"].numpy()))["mAP"], "test_mAP": tie_map}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    rows = [(variant, seed, run(variant, args.steps, args.lr, seed))
            for variant in ("naive", "emoscope") for seed in range(args.seeds)]
    print(f"{args.steps} steps, lr {args.lr}, {args.seeds} seeds, "
          f"{time.perf_counter() - started:.0f} s, torch {torch.__version__}")
    print("| objective | seed | peak abs factual logit | final loss | TIE finite | "
          "TIE train mAP | TIE held-out mAP |")
    print("|---|---|---|---|---|---|---|")
    for variant, seed, r in rows:
        print(f"| {variant} | {seed} | {r['peak_logit']:.1f} | {r['final_loss']:.3f} | "
              f"{r['finite']} | {r['train_mAP']:.3f} | {r['test_mAP']:.3f} |")


if __name__ == "__main__":
    main()
