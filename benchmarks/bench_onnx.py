"""PyTorch against ONNX Runtime for a face model on this CPU; prints a Markdown table.

    python benchmarks/bench_onnx.py [--model fer2013-lite0] [--seconds 4]

Rows: faces/s of the predictor at batch 1 and 64 with each runtime (torch with channels_last,
the analysis default; ONNX Runtime through ``--runtime onnx``), each ratio against torch at
the same batch size measured in the same run, and the largest absolute difference between
the two runtimes' class probabilities on real faces (FER2013 PublicTest from
``../shared/data`` when present, else crops of scikit-image's astronaut).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

import emoscope  # noqa: F401  (sets OMP_WAIT_POLICY before anything loads torch)

REPO = Path(__file__).resolve().parents[1]


def _faces(height: int, count: int = 256) -> tuple[list[np.ndarray], str]:
    """Real face crops, model-ready size, RGB uint8."""
    import cv2

    shared = Path(os.environ.get("EMOSCOPE_SHARED_DATA", REPO / ".." / "shared" / "data"))
    files = sorted((shared / "fer2013" / "test").glob("*/*.jpg"))[::13][:count]
    if files:
        faces = [cv2.resize(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB),
                            (height, height)) for f in files]
        return faces, f"{len(faces)} FER2013 PublicTest faces"
    from emoscope.inference.demo import ASTRONAUT_FACE, astronaut

    x1, y1, x2, y2 = ASTRONAUT_FACE
    crop = cv2.resize(astronaut()[y1:y2, x1:x2], (height, height))
    return [np.roll(crop, i, axis=1) for i in range(count)], f"{count} shifted astronaut crops"


def _speed(predictor, faces: list[np.ndarray], batch: int, budget_s: float) -> float:
    crops = (faces * (batch // len(faces) + 1))[:batch]
    predictor.predict(crops)  # warm-up
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < budget_s:
        predictor.predict(crops)
        calls += 1
    return batch * calls / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="fer2013-lite0")
    parser.add_argument("--seconds", type=float, default=4.0, help="time budget per row")
    args = parser.parse_args()

    import onnxruntime
    import torch

    from emoscope.inference.predictor import FacePredictor

    load = os.getloadavg()[0]
    predictors = {runtime: {batch: FacePredictor.from_name(args.model, runtime=runtime,
                                                           batch_size=batch)
                            for batch in (1, 64)} for runtime in ("torch", "onnx")}
    height = predictors["torch"][1].card.preprocessing.input_size[1]
    faces, source = _faces(height)
    diff = np.abs(predictors["onnx"][64].predict(faces).probabilities
                  - predictors["torch"][64].predict(faces).probabilities).max()
    speeds = {(runtime, batch): _speed(predictors[runtime][batch], faces, batch, args.seconds)
              for batch in (1, 64) for runtime in ("torch", "onnx")}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime "
          f"{onnxruntime.__version__}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
          f"load average before the run {load:.2f}")
    print(f"model: {args.model}; parity on {source}: max |p_onnx - p_torch| = {diff:.2e}\n")
    print("| runtime | batch | faces/s | ratio vs torch, same batch |")
    print("|---|---|---|---|")
    for batch in (1, 64):
        base = speeds[("torch", batch)]
        for runtime in ("torch", "onnx"):
            speed = speeds[(runtime, batch)]
            tag = " [baseline]" if runtime == "torch" else ""
            print(f"| {runtime}{tag} | {batch} | {speed:.0f} | {speed / base:.2f}x |")


if __name__ == "__main__":
    main()
