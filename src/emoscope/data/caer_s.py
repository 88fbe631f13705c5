"""CAER-S (Lee et al. ICCV 2019): ``CAER-S/{train,test}/{Anger,...,Surprise}/*.png``, one label
per frame, face boxes from ``{split}_face_coords.json`` (see ``caer_faces``).

Each item is a dict of tensors: ``face`` (the face crop; zeros without a face), ``context``
(the whole frame), ``context_masked`` (the frame with the subject set to zero: the face box,
or the person's pixels with a segmentation mask), ``stream_mask`` (context, body, face in
``STREAMS`` order: CAER-S has no body stream), ``face_mask``, ``label`` and ``index``. So the
multi-stream EMOTIC models, CAER-Net-S, the face-only control and CLEF all read it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from emoscope.data.caer_faces import Box, box_in_image, coords_path, image_key, read_face_coords
from emoscope.data.emotic.transforms import StreamSpec, StreamTransform
from emoscope.data.images import IMAGE_SUFFIXES, load_image
from emoscope.data.subject_mask import MASK_MODES, build_segmenter, mask_subject
from emoscope.errors import DataFormatError, UserError
from emoscope.labels import CAER_S_LABELS
from emoscope.registry import DATASETS

log = logging.getLogger(__name__)

CAER_STREAMS = ("face", "context", "context_masked")
# Folder spellings seen in copies of CAER-S -> the canonical class.
FOLDER_ALIASES = {"angry": "Anger", "anger": "Anger", "disgust": "Disgust", "fear": "Fear",
                  "happy": "Happy", "happiness": "Happy", "neutral": "Neutral", "sad": "Sad",
                  "sadness": "Sad", "surprise": "Surprise"}


@dataclass(frozen=True)
class CaerImage:
    """One frame: path relative to the root, class index, face box in file pixels (or None)."""

    relative_path: str
    label: int
    face_box: Box | None


def find_root(root: str | Path) -> Path:
    """The folder holding the split folders (``root`` or ``root/CAER-S``)."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: dataset root not found")
    nested = root / "CAER-S"
    if nested.is_dir() and not (root / "train").is_dir() and not (root / "test").is_dir():
        return nested
    return root


def scan_split(root: Path, split: str) -> list[tuple[str, int]]:
    """(relative path, class index) of every image of a split, sorted by path."""
    split_dir = root / split
    if not split_dir.is_dir():
        have = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise DataFormatError(split_dir, "split folder not found (expected <root>/<split>/"
                              f"<class>/<image>; folders here: {', '.join(have) or 'none'})")
    found = []
    for folder in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        label = FOLDER_ALIASES.get(folder.name.lower())
        if label is None:
            raise DataFormatError(folder, "not a CAER-S class folder (expected one of "
                                  f"{', '.join(CAER_S_LABELS.labels)})")
        index = CAER_S_LABELS.index(label)
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                found.append((path.relative_to(root).as_posix(), index))
    if not found:
        raise DataFormatError(split_dir, "no images found in the class folders")
    return found


def read_caer_s(root: str | Path, split: str,
                face_coords: str | Path | None = None) -> list[CaerImage]:
    """The frames of one split with their face boxes (missing from the JSON: no face)."""
    root = find_root(root)
    images = scan_split(root, split)
    path = Path(face_coords) if face_coords else coords_path(root, split)
    boxes = read_face_coords(path) if path.is_file() else {}
    if not boxes:
        log.warning("%s: no face coordinates; run 'emoscope prepare caer-s %s' (faces masked)",
                    path, root)
    frames = [CaerImage(rel, label, boxes.get(image_key(rel))) for rel, label in images]
    missing = sum(1 for f in frames if f.face_box is None)
    if missing:
        log.info("CAER-S %s: %d of %d frames without a face box", split, missing, len(frames))
    return frames


def stream_specs(streams: Mapping[str, Any] | None) -> dict[str, StreamSpec]:
    """A spec per CAER-S stream (``context_masked`` defaults to ``context``'s)."""
    given = dict(streams or {})
    unknown = sorted(set(given) - set(CAER_STREAMS))
    if unknown:
        raise UserError(f"unknown CAER-S stream '{unknown[0]}'; streams: "
                        f"{', '.join(CAER_STREAMS)}")
    given.setdefault("context_masked", given.get("context"))
    return {name: StreamSpec.coerce(given.get(name)) for name in CAER_STREAMS}


class CaerSDataset(Dataset):
    """CAER-S frames as dicts of tensors (see the module docstring).

    streams: per stream a StreamSpec / dict / timm data config. mask: how the subject leaves
    ``context_masked`` (``box``, ``segmentation``, ``auto``). train: augment each stream and
    flip the whole frame (boxes follow) with probability 0.5 when ``hflip``.
    """

    def __init__(self, root: str | Path, frames: Sequence[CaerImage],
                 streams: Mapping[str, Any] | None = None, train: bool = False,
                 mask: str = "box", hflip: bool | None = None):
        if mask not in MASK_MODES:
            raise UserError(f"unknown subject mask mode '{mask}'; known: {', '.join(MASK_MODES)}")
        self.root = find_root(root)
        self.frames = list(frames)
        self.specs = stream_specs(streams)
        self.transforms = {name: StreamTransform(spec) for name, spec in self.specs.items()}
        self.train, self.mask = train, mask
        self.hflip = train if hflip is None else hflip
        self.label_space = CAER_S_LABELS
        self._segmenter: Any = None  # built on first use, in the worker that uses it

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def labels(self) -> np.ndarray:
        return np.array([f.label for f in self.frames], np.int64)

    def _masked(self, rgb: np.ndarray, box: Box | None) -> np.ndarray:
        if self.mask != "box" and self._segmenter is None:
            self._segmenter = build_segmenter(self.mask) or False
        return mask_subject(rgb, box, self._segmenter or None)[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        frame = self.frames[index]
        loaded = load_image(self.root / frame.relative_path)
        rgb = loaded.rgb
        height, width = rgb.shape[:2]
        box = frame.face_box
        if box is not None and loaded.scale != 1.0:
            box = tuple(v / loaded.scale for v in box)  # type: ignore[assignment]
        box = box_in_image(box, width, height)
        if self.train and self.hflip and bool(torch.rand(()) < 0.5):
            rgb = np.ascontiguousarray(rgb[:, ::-1])
            if box is not None:
                box = (width - box[2], box[1], width - box[0], box[3])
        item = {"context": self.transforms["context"](rgb, self.train),
                "context_masked": self.transforms["context_masked"](self._masked(rgb, box),
                                                                    self.train)}
        if box is not None:
            x1, y1 = int(box[0]), int(box[1])
            x2, y2 = max(int(np.ceil(box[2])), x1 + 1), max(int(np.ceil(box[3])), y1 + 1)
            item["face"] = self.transforms["face"](rgb[y1:y2, x1:x2], self.train)
        else:
            item["face"] = self.transforms["face"].blank()
        has_face = float(box is not None)
        item["face_mask"] = torch.tensor(has_face)
        item["stream_mask"] = torch.tensor([1.0, 0.0, has_face])
        item["body"] = torch.zeros(3, 8, 8)  # no body stream in CAER-S (masked above)
        item["label"] = torch.tensor(frame.label, dtype=torch.long)
        item["index"] = torch.tensor(index)
        return item


@DATASETS.register("caer_s")
def load_caer_s(root: str | Path, split: str = "train", cache_dir: str | Path | None = None,
                streams: Mapping[str, Any] | None = None, train: bool | None = None,
                face_coords: str | Path | None = None, mask: str = "box",
                hflip: bool | None = None, limit: int = 0,
                require_face: bool = False) -> CaerSDataset:
    """One CAER-S split as a ``CaerSDataset``; ``train`` (augment) defaults to split ==
    'train'; ``limit`` > 0 keeps that many frames per class (smoke runs); ``require_face``
    leaves out frames without a face box (their context view would show the subject).
    cache_dir is unused (frames are decoded lazily)."""
    frames = read_caer_s(root, split, face_coords)
    if require_face:
        kept = [f for f in frames if f.face_box is not None]
        if not kept:
            raise UserError(f"{root}: no {split} frame has a face box (run 'emoscope prepare "
                            "caer-s' or give face_coords)")
        if len(kept) < len(frames):
            log.info("CAER-S %s: left out %d frames without a face", split,
                     len(frames) - len(kept))
        frames = kept
    if limit > 0:
        counts: dict[int, int] = {}
        kept = []
        for frame in frames:
            counts[frame.label] = counts.get(frame.label, 0) + 1
            if counts[frame.label] <= limit:
                kept.append(frame)
        frames = kept
    return CaerSDataset(root, frames, streams, train=split == "train" if train is None
                        else train, mask=mask, hflip=hflip)


__all__ = ["CAER_STREAMS", "CaerImage", "CaerSDataset", "load_caer_s", "read_caer_s"]
