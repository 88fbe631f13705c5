"""Face detection: recall on framed FER2013 faces against false faces where there are none.

Each detector setting is run on
- FER2013 faces set into camera-like 240x320 frames exactly as ``evaluate --protocol
  pipeline`` sets them (``data/framing.py``, seed 0, face i of the split framed as index i):
  the share of faces with a detection at the placed face (``study/pipeline_protocol.match_face``),
  overall and by border type and enlargement;
- a generated video with no human face: a camera panning over scikit-image's bundled
  face-free photos (coffee, rocket, coins, brick, grass, gravel, text, page, clock, colour
  wheel, Hubble deep field, moon, a cat) and the framing's noise textures, encoded as H.264
  and decoded again: every box there is a false face;
- the demo photos (``--demo``): faces per photo; boxes that the whole-frame setting (the
  default before tiles) does not find are counted and drawn into ``--out`` for a look (a new
  box is either a face it missed or a false face).
Milliseconds per framed frame are printed too; measure them on a quiet machine only.

Choose settings on a slice of the training set (``--split train``), not on PublicTest:

    python benchmarks/bench_detection.py --split train --limit 1000 --out /tmp/det
    python benchmarks/bench_detection.py --split test --settings whole-frame,default
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

# name -> (detector, options). "default" is what ``analyze`` uses: the whole frame, then 2x2
# tiles (boxes of confidence >= 0.7) when the whole frame gave no face; "whole-frame" is the
# default before tiles were added, and the reference for "new boxes" on the demo photos.
_NO_TILES = {"tiles": 1}
_ALL_TILES = {"tiles": 2, "tile_when_empty": False, "tile_threshold": None}
SETTINGS = {
    "default": ("mediapipe", {}),
    "whole-frame": ("mediapipe", _NO_TILES),
    "short": ("mediapipe", {"model": "short", **_NO_TILES}),
    "full": ("mediapipe", {"model": "full", **_NO_TILES}),
    "threshold-0.3": ("mediapipe", {"threshold": 0.3, **_NO_TILES}),
    "tiles2-when-empty": ("mediapipe", {"tiles": 2, "tile_threshold": None}),
    "tiles2": ("mediapipe", _ALL_TILES),
    "tiles2-0.7": ("mediapipe", {**_ALL_TILES, "tile_threshold": 0.7}),
    "short-tiles2": ("mediapipe", {**_ALL_TILES, "model": "short"}),
    "haar": ("opencv", {}),
}
FACE_FREE = ("coffee", "rocket", "coins", "brick", "grass", "gravel", "text", "page", "clock",
             "colorwheel", "hubble_deep_field", "moon", "chelsea")


def framed_faces(root: Path, split: str, limit: int | None):
    from emoscope.data.framing import frame_face
    from emoscope.study.pipeline_protocol import load_faces, spread_subset

    arrays = load_faces("fer2013", root, split)
    return [frame_face(arrays.images[i], 0, int(i)) for i in spread_subset(len(arrays), limit)]


def no_face_video(path: Path, frames_per_scene: int = 12) -> list[np.ndarray]:
    """Frames of the face-free video, after an H.264 round trip (as a user's file would be)."""
    import av
    import skimage.data

    from emoscope.data.framing import noise_texture
    from emoscope.inference.demo import camera_path, write_video

    frames = []
    for name in FACE_FREE:
        image = getattr(skimage.data, name)()
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = np.ascontiguousarray(image[..., :3]).astype(np.uint8)
        frames += camera_path(image, 320, 240, frames_per_scene)
    rng = np.random.default_rng(0)
    for _ in range(frames_per_scene):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        frames.append(noise_texture(rng, colour, (240, 320)).astype(np.uint8))
    write_video(frames, path, fps=12)
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def demo_photos(folder: Path | None) -> dict[str, np.ndarray]:
    if folder is None or not folder.is_dir():
        return {}
    from PIL import Image

    return {p.name: np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.iterdir())
            if p.suffix.lower() in (".jpg", ".jpeg", ".png")}


def measure(detector, faces, video, photos) -> dict:
    from emoscope.study.pipeline_protocol import match_face

    found, seconds = [], 0.0
    for placed in faces:
        started = time.perf_counter()
        boxes = detector.detect(placed.frame)
        seconds += time.perf_counter() - started
        found.append(match_face(boxes, placed.box) is not None)
    found = np.array(found)
    video_counts = [len(detector.detect(frame)) for frame in video]
    borders = np.array([p.params.border for p in faces])
    scales = np.array([p.params.scale for p in faces])
    return {
        "detected": found.mean(),
        "by_border": {b: found[borders == b].mean() for b in sorted(set(borders))},
        "by_scale": {f"{lo:.2f}-{lo + 1 / 3:.2f}": found[(scales >= lo) & (scales < lo + 1 / 3)]
                     .mean() for lo in (2.0, 2 + 1 / 3, 2 + 2 / 3)},
        "ms_per_frame": 1000 * seconds / max(len(faces), 1),
        "video_false": sum(video_counts),
        "video_frames_with_false": sum(n > 0 for n in video_counts),
        "photos": {name: detector.detect(rgb) for name, rgb in photos.items()},
    }


def new_boxes(boxes, reference, iou: float = 0.3):
    from emoscope.faces.detectors.base import box_iou

    return [b for b in boxes if all(box_iou(b, r) < iou for r in reference)]


def draw_new(out: Path, setting: str, name: str, rgb: np.ndarray, boxes) -> None:
    import cv2
    from PIL import Image

    image = rgb.copy()
    for b in boxes:
        cv2.rectangle(image, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), (255, 0, 0), 3)
    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(out / f"{setting}_{Path(name).stem}_new.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="../shared/data/fer2013", type=Path)
    parser.add_argument("--split", default="train", help="train (choosing settings) or test")
    parser.add_argument("--limit", type=int, default=None, help="faces, spread over the split")
    parser.add_argument("--demo", default="../shared/data/demo-media", type=Path)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--out", type=Path, default=None, help="folder for the no-face video "
                        "and drawings of new boxes on the demo photos")
    args = parser.parse_args()

    import tempfile

    from emoscope.faces.detectors import build_detector

    load = os.getloadavg()[0]
    faces = framed_faces(args.root, args.split, args.limit)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_detection_"))
    video = no_face_video(out / "no_face.mp4")
    photos = demo_photos(args.demo)
    results = {}
    for setting in args.settings.split(","):
        name, options = SETTINGS[setting]
        with build_detector(name, **options) as detector:
            results[setting] = measure(detector, faces, video, photos)
        print(f"{setting}: detected {100 * results[setting]['detected']:.1f}%, "
              f"{results[setting]['video_false']} false faces in the no-face video",
              file=sys.stderr, flush=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load before the run "
          f"{load:.2f}; {len(faces)} framed faces of FER2013 {args.split}; no-face video: "
          f"{len(video)} frames (320x240); demo photos: {len(photos)}\n")
    borders = sorted(next(iter(results.values()))["by_border"])
    scales = list(next(iter(results.values()))["by_scale"])
    print("| setting | detected | " + " | ".join(borders) + " | " +
          " | ".join(f"scale {s}" for s in scales) + " | false faces in the no-face video "
          "(frames) | faces on demo photos | new boxes on demo photos | ms/frame |")
    print("|---" * (6 + len(borders) + len(scales)) + "|")
    reference = results.get("whole-frame")
    for setting, r in results.items():
        found = sum(len(b) for b in r["photos"].values())
        new = 0
        for photo, boxes in r["photos"].items():
            extra = new_boxes(boxes, reference["photos"][photo]) if reference else []
            new += len(extra)
            if extra:
                draw_new(out, setting, photo, photos[photo], extra)
        print(f"| {setting} | {100 * r['detected']:.1f}% | " +
              " | ".join(f"{100 * r['by_border'][b]:.1f}%" for b in borders) + " | " +
              " | ".join(f"{100 * r['by_scale'][s]:.1f}%" for s in scales) +
              f" | {r['video_false']} ({r['video_frames_with_false']}) | {found} | {new} | "
              f"{r['ms_per_frame']:.1f} |")
    print(f"\nno-face video and drawings of new boxes: {out}")


if __name__ == "__main__":
    main()
