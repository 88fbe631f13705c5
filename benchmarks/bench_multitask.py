"""Classifier cost of multi-task face models and ensembles; prints a Markdown table.

    python benchmarks/bench_multitask.py [--seconds 3] [--members 3] [--device cpu]

Rows: the shipped ``fer2013-lite0`` (the baseline every ratio refers to), the multi-task
network (EfficientNetV2-S, the seed preset, random weights: speed does not depend on them) at
112 and 224 px, a bagged ensemble of ``--members`` such networks at 112 px, and the
end-to-end live loop (``run_live`` on a 640x360 video file, detect + track + classify +
window smoothing) with the default model and with the 112 px multi-task model. Faces/s at
batch 1 (a live stream with one face) and batch 16 (a crowd or a file), channels_last.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

import emoscope  # noqa: F401  (sets OMP_WAIT_POLICY before anything loads torch)


def _save_multitask(folder: Path, size: int, seed: int = 0) -> Path:
    import torch

    from emoscope.labels import AFFWILD2_ACTION_UNITS, AFFWILD2_EXPRESSIONS
    from emoscope.models.backbones import backbone_preprocessing
    from emoscope.models.files.checkpoint import ModelCard, save_model
    from emoscope.models.multitask import OUTPUTS, MultiTaskFaceModel

    torch.manual_seed(seed)
    kwargs = {"backbone": "tf_efficientnetv2_s"}
    model = MultiTaskFaceModel(**kwargs).eval()
    card = ModelCard(name=f"multitask-{size}-{seed}", architecture="multitask_face",
                     architecture_kwargs=kwargs, label_space=AFFWILD2_EXPRESSIONS,
                     preprocessing=backbone_preprocessing(model.backbone, size),
                     outputs=list(OUTPUTS),
                     extra={"au_labels": list(AFFWILD2_ACTION_UNITS.labels)})
    return save_model(model, card, folder / f"multitask_{size}_{seed}")


def _faces_per_second(model: str, batch: int, budget_s: float) -> float:
    from emoscope.inference.predictor import FacePredictor

    predictor = FacePredictor.from_name(model, batch_size=batch)
    _, height, width = predictor.card.preprocessing.input_size
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(batch)]
    predictor.predict(crops)  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < budget_s:
        predictor.predict(crops)
        done += batch
    return done / (time.perf_counter() - start)


def _live_fps(video: Path, model: str | None, frames: int) -> float:
    from emoscope.inference.analyze import AnalyzeOptions
    from emoscope.inference.live import run_live

    options = AnalyzeOptions(model=model, smooth=5, smooth_method="window")
    start = time.perf_counter()
    done = run_live(str(video), options, window=False, max_frames=frames,
                    on_rows=lambda rows: None)
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="Budget per batch row.")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--live-frames", type=int, default=90)
    args = parser.parse_args()

    from emoscope.inference.demo import astronaut, camera_path, write_video
    from emoscope.models.ensemble import save_ensemble

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        small = str(_save_multitask(folder, 112))
        large = str(_save_multitask(folder, 224))
        members = [small] + [str(_save_multitask(folder, 112, s)) for s in
                             range(1, args.members)]
        ensemble = str(save_ensemble(members, folder / "ensemble"))
        models = [("fer2013-lite0 (64 px grey) [baseline]", "fer2013-lite0"),
                  ("multi-task EfficientNetV2-S, 112 px", small),
                  ("multi-task EfficientNetV2-S, 224 px", large),
                  (f"ensemble of {args.members} x 112 px", ensemble)]
        rows = []
        for batch in (1, 16):
            base = None
            for name, model in models:
                speed = _faces_per_second(model, batch, args.seconds)
                base = base or speed
                rows.append((f"{name}, batch {batch}", f"{speed:.1f} faces/s",
                             f"{speed / base:.2f}x"))
        video = write_video(camera_path(astronaut(), 640, 360, args.live_frames),
                            folder / "live.mp4", fps=30)
        base_fps = _live_fps(video, None, args.live_frames)
        rows.append(("live loop, fer2013-lite0 [baseline]", f"{base_fps:.1f} fps", "1.00x"))
        fps = _live_fps(video, small, args.live_frames)
        rows.append(("live loop, multi-task 112 px", f"{fps:.1f} fps", f"{fps / base_fps:.2f}x"))

    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {load:.2f} at the end")
    print("| measurement | speed | ratio |")
    print("|---|---|---|")
    for name, speed, ratio in rows:
        print(f"| {name} | {speed} | {ratio} |")


if __name__ == "__main__":
    main()
