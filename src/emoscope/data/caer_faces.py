"""CAER-S face boxes: ``{split}_face_coords.json`` beside the split folders, mapping an image
path to ``[x1, y1, x2, y2]`` in that image's pixels (``null``: no face found). Keys may be
relative to the dataset root (``train/Anger/0001.png``), to the split folder
(``Anger/0001.png``) or carry a leading ``CAER-S/``; back-slashes are accepted. ``emoscope
prepare caer-s`` detects and writes them (only images not already in the file)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from emoscope.errors import DataFormatError
from emoscope.utils.files import atomic_write_text

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]


def coords_path(root: str | Path, split: str) -> Path:
    return Path(root) / f"{split}_face_coords.json"


def image_key(path: str) -> tuple[str, str]:
    """(class folder lower-case, file name): the part of any key spelling that identifies an
    image within a split."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if len(parts) < 2:
        return "", parts[-1] if parts else ""
    return parts[-2].lower(), parts[-1]


def _parse_box(value: object, path: Path, key: str) -> Box | None:
    if value is None:
        return None
    if isinstance(value, Mapping):  # {"x1": .., "y1": .., "x2": .., "y2": ..} variants
        value = [value.get(k) for k in ("x1", "y1", "x2", "y2")]
    try:
        box = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise DataFormatError(path, f"entry '{key}' is not [x1, y1, x2, y2]: {value!r}") from None
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        raise DataFormatError(path, f"entry '{key}' is not [x1, y1, x2, y2]: {value!r}")
    if box[2] <= box[0] or box[3] <= box[1]:
        raise DataFormatError(path, f"entry '{key}' has an empty box {list(box)} (x2 <= x1 or "
                              "y2 <= y1)")
    return box  # type: ignore[return-value]


def read_face_coords(path: str | Path) -> dict[tuple[str, str], Box | None]:
    """The face boxes of one coordinates JSON, keyed by ``image_key``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataFormatError(path, "face coordinates file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataFormatError(path, "face coordinates file is not valid JSON") from None
    if not isinstance(data, dict):
        raise DataFormatError(path, "face coordinates must be a JSON object {image: [x1, y1, "
                              "x2, y2]}")
    return {image_key(str(k)): _parse_box(v, path, str(k)) for k, v in data.items()}


def write_face_coords(path: str | Path, boxes: Mapping[str, Box | None]) -> Path:
    """Write ``{relative path: [x1, y1, x2, y2] or null}`` atomically, keys sorted."""
    payload = {k: (None if b is None else [round(float(v), 2) for v in b])
               for k, b in sorted(boxes.items())}
    atomic_write_text(Path(path), json.dumps(payload, indent=1) + "\n")
    return Path(path)


def subject_face(faces: list, width: int, height: int) -> Box | None:
    """The face CAER-S is about when several are found: the largest, ties by confidence."""
    if not faces:
        return None
    best = max(faces, key=lambda f: (f.area, f.score))
    return (best.x1, best.y1, best.x2, best.y2)


def detect_face_coords(root: str | Path, split: str, images: list[str], detector,
                       out: str | Path | None = None,
                       progress: Callable[[int, int], None] | None = None
                       ) -> tuple[Path, int, int, int]:
    """Detect the face of every image (paths relative to ``root``) not yet in the split's
    coordinates file and write it. Returns (path, computed, reused, with a face)."""
    from emoscope.data.images import load_image

    root = Path(root)
    path = Path(out) if out is not None else coords_path(root, split)
    existing: dict[str, Box | None] = {}
    if path.is_file():
        raw = json.loads(path.read_text())
        existing = {str(k): _parse_box(v, path, str(k)) for k, v in raw.items()}
    known = {image_key(k) for k in existing}
    computed = 0
    for done, relative in enumerate(images, 1):
        if image_key(relative) not in known:
            loaded = load_image(root / relative)
            rgb = loaded.rgb
            box = subject_face(detector.detect(rgb), rgb.shape[1], rgb.shape[0])
            if box is not None and loaded.scale != 1.0:  # shrunk on load: back to file pixels
                box = tuple(float(v) * loaded.scale for v in box)  # type: ignore[assignment]
            existing[relative] = box
            computed += 1
        if progress is not None:
            progress(done, len(images))
    write_face_coords(path, existing)
    with_face = sum(1 for b in existing.values() if b is not None)
    log.info("%s: %d computed, %d reused, %d with a face", path, computed,
             len(images) - computed, with_face)
    return path, computed, len(images) - computed, with_face


def box_in_image(box: Box | None, width: int, height: int) -> Box | None:
    """``box`` clipped to the image; None when nothing of it is inside."""
    if box is None:
        return None
    clipped = (float(np.clip(box[0], 0, width)), float(np.clip(box[1], 0, height)),
               float(np.clip(box[2], 0, width)), float(np.clip(box[3], 0, height)))
    if clipped[2] - clipped[0] < 1 or clipped[3] - clipped[1] < 1:
        return None
    return clipped
