"""Accuracy of the face pipeline on tilted heads, with and without eye-line alignment.

Each FER2013 PublicTest face is enlarged (48 -> 96 px), set in a 224x224 canvas (reflected
borders), and the canvas is turned in the image plane by +-THETA degrees (alternating sign).
The full pipeline then runs as ``analyze`` does: MediaPipe detection (box nearest the centre),
crop with the model's margin, and the shipped model, once without and once with alignment
(``faces/face_align.py``). Printed per angle: the share of faces
detected and the accuracy on those faces, both ways, plus the model on the untouched 48x48
faces of that same subset for reference.

    python benchmarks/bench_alignment.py --root ../shared/data/fer2013 [--limit N]
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np


def load_faces(root: Path, split: str, limit: int | None) -> tuple[list[np.ndarray], list[str]]:
    from PIL import Image

    files = sorted((root / split).glob("*/*.jpg"))
    if limit:
        files = files[:: max(1, len(files) // limit)][:limit]
    faces = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    return faces, [f.parent.name for f in files]


def tilted_canvas(face: np.ndarray, degrees: float) -> np.ndarray:
    import cv2

    big = cv2.resize(face, (96, 96), interpolation=cv2.INTER_LINEAR)
    canvas = cv2.copyMakeBorder(big, 64, 64, 64, 64, cv2.BORDER_REFLECT_101)
    turn = cv2.getRotationMatrix2D((112, 112), degrees, 1.0)
    return cv2.warpAffine(canvas, turn, (224, 224), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="../shared/data/fer2013")
    parser.add_argument("--angles", default="0,10,20,30,40")
    parser.add_argument("--limit", type=int, default=None, help="faces (spread over classes)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--split", default="test", help="test (PublicTest) or train (for "
                        "choosing settings without touching PublicTest)")
    parser.add_argument("--margin", type=float, default=None, help="crop margin (default: "
                        "the model card's)")
    parser.add_argument("--align-min", type=float, default=None,
                        help="smallest eye-line tilt that is turned upright (default: "
                        "face_align.ALIGN_MIN_DEGREES)")
    args = parser.parse_args()

    import torch

    from emoscope.faces import face_align
    from emoscope.faces.detectors import build_detector
    from emoscope.inference.predictor import FacePredictor, prepare_crop
    from emoscope.labels import canonical_label

    load = os.getloadavg()[0]
    faces, names = load_faces(Path(args.root), args.split, args.limit)
    predictor = FacePredictor.from_name(args.model)
    if args.margin is not None:
        predictor.margin = args.margin
    if args.align_min is not None:
        face_align.ALIGN_MIN_DEGREES = args.align_min
    truth = np.array([predictor.labels.index(canonical_label(n)) for n in names])

    def classify(crops: list[np.ndarray]) -> np.ndarray:
        return predictor.predict(crops).probabilities.argmax(1)

    plain = classify([prepare_crop(f, predictor.card) for f in faces])
    rows = []
    with build_detector("mediapipe") as detector:
        for angle in (float(a) for a in args.angles.split(",")):
            found, straight, aligned = [], [], []
            for i, face in enumerate(faces):
                canvas = tilted_canvas(face, angle if i % 2 == 0 else -angle)
                boxes = detector.detect(canvas)
                if not boxes:
                    continue
                box = min(boxes, key=lambda b: np.hypot(b.center[0] - 112, b.center[1] - 112))
                found.append(i)
                for out, align in ((straight, False), (aligned, True)):
                    predictor.align = align
                    out.extend(predictor.crops(canvas, [box]))
            idx = np.array(found, dtype=int)
            rows.append((angle, len(idx) / len(faces), (plain[idx] == truth[idx]).mean(),
                         (classify(straight) == truth[idx]).mean(),
                         (classify(aligned) == truth[idx]).mean()))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), load before the run {load:.2f}")
    print(f"model: {predictor.card.name}; faces: {len(faces)} of {args.split}; margin "
          f"{predictor.margin}; aligned from {face_align.ALIGN_MIN_DEGREES} degrees; "
          f"untouched 48x48 accuracy {100 * (plain == truth).mean():.2f}%\n")
    print("| tilt (+-deg) | detected | untouched faces (same subset) | pipeline, no alignment "
          "| pipeline, aligned |")
    print("|---|---|---|---|---|")
    for angle, share, reference, straight_acc, aligned_acc in rows:
        print(f"| {angle:.0f} | {100 * share:.1f}% | {100 * reference:.2f}% | "
              f"{100 * straight_acc:.2f}% | {100 * aligned_acc:.2f}% |")


if __name__ == "__main__":
    main()
