"""EMOTIC training throughput (persons/s) on this machine, with and without the feature cache;
prints a Markdown table.

    python benchmarks/bench_emotic.py [--images 16] [--epochs 3] [--threads 2] [--skip-study]

The data is the generated EMOTIC fixture of the tests (``tests/emotic_fixtures.py``: 200x160
images, two persons each, a face cache where the faces were drawn), so nothing is downloaded;
backbones start from random weights (speed does not depend on them). Each row trains the
configuration's own step (``MultiStreamModule.training_step``, backward, Adam) over the
train split for ``--epochs`` epochs:

- **reference**: the ``emotic_reference`` preset (context 224 + body 128 ResNet-18s, discrete
  loss), backbones fine-tuned: the baseline of every ratio.
- **reference, frozen**: the same with frozen backbones, features recomputed every epoch.
- **reference, cached**: frozen backbones and the feature cache: the first epoch computes and
  writes the features, later epochs train fusion and heads from them.
- **study best**: Swin-T context and body, EfficientNet-B7 face (all at 224), weighted fusion,
  discrete loss, the same three modes.

"first epoch" includes building the cache where there is one; "later epochs" is the mean of
the remaining epochs. Ratios compare later-epoch throughput with the fine-tuned reference
measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import emoscope  # noqa: F401  (sets OMP_WAIT_POLICY before anything loads torch)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the fixture generator lives with the tests

REFERENCE = ["model.architecture=emotic_reference", "model.context.image_size=224",
             "model.body.image_size=128", "model.face.backbone=", "trainer.batch_size=16"]
STUDY = ["model.context.backbone=swin", "model.body.backbone=swin",
         "model.face.backbone=efficientnet_b7", "model.fusion=weighted",
         "trainer.batch_size=8"]
MODES = {"fine-tuned": [], "frozen": ["model.freeze_backbones=true"],
         "cached": ["model.freeze_backbones=true", "trainer.feature_cache=true"]}


def _fixture(folder: Path, images: int) -> Path:
    from emotic_fixtures import make_images, write_face_cache, write_layout

    drawn = make_images({"train": images, "val": 1, "test": 1}, seed=0)
    root = write_layout("preprocessed", folder / "emotic_pre", drawn)
    write_face_cache(root, drawn)
    return root


def _config(root: Path, cache_dir: Path, overrides: list[str]):
    from emoscope.config import merge_config
    from emoscope.training.emotic_config import EmoticConfig

    base = [f"data.root={root}", "model.pretrained=none", f"trainer.cache_dir={cache_dir}",
            "loss.categorical=discrete"]
    return merge_config(EmoticConfig, None, base + overrides)


def measure(cfg, epochs: int) -> tuple[float, float, int]:
    """(first-epoch persons/s, later-epoch persons/s, persons) of one configuration."""
    import torch
    from torch.utils.data import DataLoader

    from emoscope.labels import EMOTIC_CATEGORIES
    from emoscope.registry import LOSSES
    from emoscope.training.feature_cache import cached_features
    from emoscope.training.multistream_module import MultiStreamModule
    from emoscope.training.train_emotic import build_emotic_network, load_emotic_splits

    torch.manual_seed(0)
    network = build_emotic_network(cfg)
    train, _ = load_emotic_splits(cfg, network)
    loss = LOSSES.build("combined", categorical=cfg.loss.categorical, vad=cfg.loss.vad)
    module = MultiStreamModule(network, loss, cfg.optim, EMOTIC_CATEGORIES.labels,
                               freeze_backbones=cfg.model.freeze_backbones)
    optimizer = module.configure_optimizers()["optimizer"]
    module.train()
    seconds = []
    data = None
    for _ in range(epochs):
        started = time.perf_counter()
        if data is None:
            data = train
            if cfg.trainer.feature_cache:
                data = cached_features(network, train, cfg.trainer.cache_dir, 16)
        loader = DataLoader(data, cfg.trainer.batch_size, shuffle=True, drop_last=True)
        for batch_idx, batch in enumerate(loader):
            optimizer.zero_grad()
            module.training_step(batch, batch_idx).backward()
            optimizer.step()
        seconds.append(time.perf_counter() - started)
    n = (len(train) // cfg.trainer.batch_size) * cfg.trainer.batch_size
    later = sum(seconds[1:]) / max(1, len(seconds) - 1)
    return n / seconds[0], n / later, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16, help="train images (2 persons each)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-study", action="store_true", help="only the reference rows")
    args = parser.parse_args()

    import logging

    import torch

    logging.disable(logging.WARNING)
    torch.set_num_threads(args.threads)
    presets = [("reference", REFERENCE)] + ([] if args.skip_study else [("study best", STUDY)])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = _fixture(Path(tmp), args.images)
        for preset, overrides in presets:
            for mode, extra in MODES.items():
                cfg = _config(root, Path(tmp) / "cache", overrides + extra)
                first, later, n = measure(cfg, args.epochs)
                rows.append((preset, mode, first, later, n))
                print(f"{preset}, {mode}: {first:.1f} / {later:.1f} persons/s", file=sys.stderr)
    baseline = rows[0][3]
    print(f"\n{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{args.threads} threads, load average {os.getloadavg()[0]:.2f}, "
          f"{rows[0][4]} persons x {args.epochs} epochs\n")
    print("| configuration | backbones | first epoch (persons/s) | later epochs (persons/s) "
          "| ratio |")
    print("|---|---|---|---|---|")
    for preset, mode, first, later, _ in rows:
        tag = " [baseline]" if (preset, mode) == (rows[0][0], rows[0][1]) else ""
        print(f"| {preset}{tag} | {mode} | {first:.1f} | {later:.1f} | {later / baseline:.2f}x |")


if __name__ == "__main__":
    main()
