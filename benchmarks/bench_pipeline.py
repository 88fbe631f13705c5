"""Speed of the analysis pipeline on this machine; prints a Markdown table.

    python benchmarks/bench_pipeline.py [--seconds 10] [--model NAME_OR_PATH] [--device cpu]

Rows: decoding alone, the detector-only pass (the baseline every end-to-end ratio refers to),
the full pipeline (decode, detect, track, crop, classify, smooth, write CSV) on a 640x360
video with one face rendered from scikit-image's astronaut photo, and classifier faces/s at
batch 1 and 64 (channels_last). The peer ``fer`` package is measured when it can be imported.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

import emoscope  # noqa: F401  (sets OMP_WAIT_POLICY before anything loads torch)


def _video(folder: Path, seconds: float, fps: int = 30) -> Path:
    from emoscope.inference.demo import astronaut, camera_path, write_video

    frames = camera_path(astronaut(), 640, 360, int(seconds * fps))
    return write_video(frames, folder / "bench_640x360.mp4", fps=fps)


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _decode_only(video: Path) -> tuple[float, int]:
    from emoscope.data.video import VideoReader

    seconds, frames = _timed(lambda: sum(1 for _ in VideoReader(video)))
    return seconds, frames


def _detector_only(video: Path) -> tuple[float, int]:
    from emoscope.data.video import VideoReader
    from emoscope.faces.detectors import build_detector

    with build_detector("mediapipe") as detector:
        seconds, faces = _timed(lambda: sum(len(detector.detect(f.rgb))
                                            for f in VideoReader(video)))
    return seconds, faces


def _end_to_end(video: Path, model: str | None, device: str, out: Path,
                pose: bool = False) -> tuple[float, int]:
    from emoscope.inference.analyze import AnalyzeOptions, run_analysis

    options = AnalyzeOptions(out=str(out), model=model, device=device, plots=False, smooth=5,
                             pose=pose)
    seconds, report = _timed(lambda: run_analysis([str(video)], options))
    return seconds, report.inputs[0].frames


def _classifier(model: str | None, device: str, batch: int, budget_s: float = 4.0) -> float:
    from emoscope.inference.predictor import FacePredictor

    predictor = FacePredictor.from_name(model, device=device, batch_size=batch)
    _, height, width = predictor.card.preprocessing.input_size
    crops = [np.random.default_rng(i).integers(0, 255, (height, width, 3), dtype=np.uint8)
             for i in range(batch)]
    predictor.predict(crops)  # warm-up
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < budget_s:
        predictor.predict(crops)
        calls += 1
    return batch * calls / (time.perf_counter() - start)


_FER_SCRIPT = """
import json, sys, time
import cv2
try:
    from fer import FER
except ImportError:  # fer >= 25 moved it
    from fer.fer import FER
detector = FER(mtcnn=False)  # Haar cascade + its bundled TFLite emotion model: offline
capture = cv2.VideoCapture(sys.argv[1])
frames, faces, start = 0, 0, time.perf_counter()
while True:
    ok, bgr = capture.read()
    if not ok:
        break
    faces += len(detector.detect_emotions(bgr))
    frames += 1
print(json.dumps({"frames": frames, "faces": faces, "seconds": time.perf_counter() - start}))
"""


def _fer_peer(video: Path, python: str | None) -> tuple[float, int] | str:
    """The ``fer`` package on the same video, in this interpreter or in ``python``'s env."""
    import json
    import subprocess
    import sys

    if python is None and importlib.util.find_spec("fer") is None:
        return ("not installed here (it needs TensorFlow, which emoscope does not); "
                "pass --peer-python with an environment that has fer")
    result = subprocess.run([python or sys.executable, "-c", _FER_SCRIPT, str(video)],
                            capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        return f"failed: {result.stderr.strip().splitlines()[-1:]}"
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return data["seconds"], data["frames"]


def _model_note(model: str | None) -> tuple[str | None, str]:
    """The model to time: the given/shipped one, else an untrained stand-in of the same size."""
    from emoscope.errors import UserError
    from emoscope.models.files import zoo

    try:
        _, card = zoo.load(model)
        return model, f"{card.name} ({card.architecture_kwargs.get('backbone')}, " \
                      f"{'x'.join(map(str, card.preprocessing.input_size))})"
    except UserError as err:
        if model is not None:
            raise
        return _stand_in(), f"untrained tf_efficientnet_lite0 64x64 stand-in ({err})"


def _stand_in() -> str:
    from emoscope.labels import FER2013_LABELS
    from emoscope.models.backbones import backbone_preprocessing
    from emoscope.models.classifier import ImageClassifier
    from emoscope.models.files.checkpoint import ModelCard, save_model

    kwargs = {"backbone": "tf_efficientnet_lite0", "num_classes": 7}
    model = ImageClassifier(**kwargs)
    card = ModelCard("stand-in", "timm_classifier", kwargs, FER2013_LABELS,
                     backbone_preprocessing(model.backbone, 64), grayscale=True)
    folder = Path(tempfile.mkdtemp(prefix="emoscope-bench-"))
    return str(save_model(model, card, folder / "stand_in"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the test video")
    parser.add_argument("--model", default=None, help="model name or path (default: shipped)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--peer-python", default=None,
                        help="python of an environment with the fer package, for the peer row")
    args = parser.parse_args()

    import torch

    load = os.getloadavg()[0]  # other processes on the cores skew every number below
    model, note = _model_note(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video = _video(folder, args.seconds)
        decode_s, frames = _decode_only(video)
        detect_s, _ = _detector_only(video)
        e2e_s, e2e_frames = _end_to_end(video, model, args.device, folder / "out")
        pose_s, pose_frames = _end_to_end(video, model, args.device, folder / "pose", pose=True)
        peer = _fer_peer(video, args.peer_python)
    faces_1 = _classifier(model, args.device, 1)
    faces_64 = _classifier(model, args.device, 64)

    detect_fps = frames / detect_s
    rows = [
        ("decode only (PyAV, 640x360)", f"{frames / decode_s:.1f} fps",
         f"{(frames / decode_s) / detect_fps:.2f}x"),
        ("detector only (mediapipe auto) [baseline]", f"{detect_fps:.1f} fps", "1.00x"),
        ("end to end (detect+track+classify+smooth+csv)", f"{e2e_frames / e2e_s:.1f} fps",
         f"{(e2e_frames / e2e_s) / detect_fps:.2f}x"),
        ("end to end with --pose (+ face mesh per face)", f"{pose_frames / pose_s:.1f} fps",
         f"{(pose_frames / pose_s) / detect_fps:.2f}x"),
    ]
    if isinstance(peer, tuple):
        rows.append(("fer package (Haar + TFLite CNN), same video", f"{peer[1] / peer[0]:.1f} fps",
                     f"{(peer[1] / peer[0]) / detect_fps:.2f}x"))
    rows += [
        ("classifier, batch 1 [baseline]", f"{faces_1:.0f} faces/s", "1.00x"),
        ("classifier, batch 64, channels_last", f"{faces_64:.0f} faces/s",
         f"{faces_64 / faces_1:.2f}x"),
    ]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {args.device}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
          f"load average before the run {load:.2f}")
    print(f"model: {note}")
    print(f"video: {frames} frames, 640x360, 30 fps, one face\n")
    print("| measurement | speed | ratio |")
    print("|---|---|---|")
    for name, speed, ratio in rows:
        print(f"| {name} | {speed} | {ratio} |")
    if isinstance(peer, tuple):
        print(f"\nemoscope end to end / fer: {(e2e_frames / e2e_s) / (peer[1] / peer[0]):.2f}x")
    else:
        print(f"\nfer: {peer}")


if __name__ == "__main__":
    main()
