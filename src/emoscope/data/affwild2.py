"""Aff-Wild2 (ABAW): cropped-aligned frames with expression, valence/arousal and AU labels.

The published layouts (per-video annotation files per task, or multi-task list files) are read
by ``affwild2_annotations`` / ``affwild2_lists`` (``../shared/docs/datasets.md``). Missing
labels (-5 for valence/arousal, -1 for expressions and AUs) are masked per task, never dropped
wholesale: a frame with VA but no expression keeps its VA. Frames without an image in
``cropped_aligned`` (no face found by the organisers) are skipped, and so are frames without
any label. Decoded frames live in a file read memory-mapped (``affwild2_frames``), so memory
does not grow with the number of frames and epochs never re-read the JPEGs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emoscope.data.affwild2_annotations import (
    FRAMES_DIR,
    LIST_FILES,
    SPLIT_FOLDERS,
    SPLITS,
    Labels,
    find_list_file,
    find_task_folders,
    per_video_labels,
    warn_split_overlap,
)
from emoscope.data.affwild2_frames import (
    cache_paths,
    decode_to_file,
    labels_digest,
    load_cached,
    save_labels,
)
from emoscope.data.affwild2_lists import list_file_labels, warn_list_overlap
from emoscope.data.faces import cache_key
from emoscope.errors import DataFormatError, UserError
from emoscope.labels import AFFWILD2_ACTION_UNITS, AFFWILD2_EXPRESSIONS, LabelSpace
from emoscope.registry import DATASETS

log = logging.getLogger(__name__)

__all__ = ["FRAMES_DIR", "SPLITS", "MultiTaskFaces", "load_affwild2", "read_labels"]


@dataclass
class MultiTaskFaces:
    """Decoded frames with three label sets; a missing label is -1 (expression, AU) or NaN (VA).

    images: (N, H, W, 3) uint8 RGB (from the loader: memory-mapped from the frame file).
    expressions: (N,) int64. valence_arousal: (N, 2) float32.
    action_units: (N, 12) float32 in {0, 1, -1}. sources: ``<video>/<frame>.jpg`` per row.
    """

    images: np.ndarray
    expressions: np.ndarray
    valence_arousal: np.ndarray
    action_units: np.ndarray
    sources: list[str] = field(default_factory=list)
    expression_space: LabelSpace = AFFWILD2_EXPRESSIONS
    au_space: LabelSpace = AFFWILD2_ACTION_UNITS

    def __post_init__(self) -> None:
        n = len(self.images)
        for name in ("expressions", "valence_arousal", "action_units"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{n} images but {len(getattr(self, name))} {name}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def label_space(self) -> LabelSpace:
        return self.expression_space

    @property
    def has_expression(self) -> np.ndarray:
        return self.expressions >= 0

    @property
    def has_valence_arousal(self) -> np.ndarray:
        return ~np.isnan(self.valence_arousal).any(axis=1)

    @property
    def has_action_units(self) -> np.ndarray:
        return (self.action_units >= 0).all(axis=1)

    @property
    def videos(self) -> list[str]:
        return [source.rsplit("/", 1)[0] for source in self.sources]

    def subset(self, index: np.ndarray) -> MultiTaskFaces:
        index = np.asarray(index, dtype=np.int64)
        images = self.images[index]
        if len(index) and np.array_equal(index, np.arange(index[0], index[0] + len(index))):
            images = self.images[index[0]:index[0] + len(index)]  # a view: stays on disk
        return MultiTaskFaces(
            images, self.expressions[index], self.valence_arousal[index],
            self.action_units[index],
            [self.sources[i] for i in index] if self.sources else [],
            self.expression_space, self.au_space)

    def counts(self) -> dict[str, int]:
        """How many frames carry each task's label."""
        return {"frames": len(self), "expression": int(self.has_expression.sum()),
                "valence_arousal": int(self.has_valence_arousal.sum()),
                "action_units": int(self.has_action_units.sum())}


def read_labels(root: Path, split: str, layout: str = "auto", frame_step: int = 1) -> Labels:
    """Labels of ``split`` in ``layout`` (auto: the list file when present, else per-video)."""
    if split not in SPLITS:
        raise UserError(f"Aff-Wild2 split '{split}'; known: {', '.join(SPLITS)}")
    if layout not in ("auto", "mtl", "per_video"):
        raise UserError(f"Aff-Wild2 layout '{layout}'; known: auto, mtl, per_video")
    if layout in ("auto", "mtl"):
        list_file = find_list_file(root, split)
        if list_file is not None:
            other = SPLITS[1 - SPLITS.index(split)]
            warn_list_overlap(list_file, find_list_file(root, other))
            return list_file_labels(root, list_file, frame_step)
        if layout == "mtl":
            raise DataFormatError(root, f"no {LIST_FILES[split][0]} found")
    folders = find_task_folders(root, split)
    if not folders:
        raise DataFormatError(root, f"no annotations for split '{split}' (expected "
                              f"VA_*/EXPR_*/AU_* folders with {SPLIT_FOLDERS[split][0]} inside, "
                              f"or {LIST_FILES[split][0]})")
    warn_split_overlap(root, split, folders)
    return per_video_labels(root, folders, frame_step)


@DATASETS.register("affwild2")
def load_affwild2(root: str | Path, split: str = "train", cache_dir: str | Path | None = None,
                  image_size: int = 112, layout: str = "auto", frame_step: int = 1,
                  ) -> MultiTaskFaces:
    """Frames of one Aff-Wild2 split with all three label sets (missing ones masked).

    layout: ``auto`` | ``mtl`` (list files) | ``per_video`` (per-task annotation folders).
    frame_step: keep every N-th annotated frame (the full per-video sets hold millions).
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: dataset root not found")
    if not (root / FRAMES_DIR).is_dir():
        raise DataFormatError(root, f"no {FRAMES_DIR}/ folder of frames")
    if frame_step < 1:
        raise UserError(f"frame_step must be at least 1, got {frame_step}")
    labels = read_labels(root, split, layout, frame_step)
    if not labels.sources:
        raise DataFormatError(root, f"split '{split}' has no labelled frame with an image")
    frames_path = None
    if cache_dir is not None:
        key = cache_key(root.resolve(), split, layout, frame_step, image_size,
                        labels_digest(labels))
        frames_path, labels_path = cache_paths(Path(cache_dir), split, key)
        cached = load_cached(frames_path, labels_path)
        if cached is not None:
            return _faces(*cached)
    images = decode_to_file(root, labels.sources, image_size, frames_path)
    if cache_dir is not None:
        save_labels(labels, labels_path)
    faces = _faces(images, labels)
    log.info("Aff-Wild2 %s: %s", split, faces.counts())
    return faces


def _faces(images: np.ndarray, labels: Labels) -> MultiTaskFaces:
    return MultiTaskFaces(images, labels.expressions, labels.valence_arousal,
                          labels.action_units, labels.sources)
