"""Aff-Wild2 (ABAW): cropped-aligned frames with expression, valence/arousal and AU labels.

Two published layouts are read (``../shared/docs/datasets.md``):

- per-video annotation files, one folder per task (``VA_*``, ``EXPR_*``, ``AU_*``, e.g.
  ``annotations/VA_Estimation_Challenge/Train_Set/<video>.txt``) with one line per frame after
  a header; line ``i`` belongs to ``cropped_aligned/<video>/<i:05d>.jpg``;
- multi-task list files (``training_set_annotations.txt``, ``validation_set_annotations.txt``)
  with ``image,valence,arousal,expression,AU1,...,AU26`` per frame.

Missing labels (-5 for valence/arousal, -1 for expressions and AUs) are masked per task, never
dropped wholesale: a frame with VA but no expression keeps its VA. Frames without an image in
``cropped_aligned`` (no face found by the organisers) are skipped, and so are frames without
any label. Decoded frames are cached as .npz, so epochs never re-read the JPEGs.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from emoscope.data.faces import cache_key
from emoscope.errors import DataFormatError, UserError
from emoscope.labels import AFFWILD2_ACTION_UNITS, AFFWILD2_EXPRESSIONS, LabelSpace
from emoscope.registry import DATASETS
from emoscope.utils.files import atomic_path

log = logging.getLogger(__name__)

FRAMES_DIR = "cropped_aligned"
VA_MISSING, EXPR_MISSING, AU_MISSING = -5.0, -1, -1.0
TASK_PREFIXES = {"va": "va_", "expr": "expr_", "au": "au_"}
TASK_HEADERS = {"va": ("valence", "arousal"), "expr": AFFWILD2_EXPRESSIONS.labels,
                "au": AFFWILD2_ACTION_UNITS.labels}
SPLIT_FOLDERS = {"train": ("train_set", "training_set"), "val": ("validation_set", "val_set")}
LIST_FILES = {"train": ("training_set_annotations.txt",),
              "val": ("validation_set_annotations.txt",)}
SPLITS = ("train", "val")


@dataclass
class MultiTaskFaces:
    """Decoded frames with three label sets; a missing label is -1 (expression, AU) or NaN (VA).

    images: (N, H, W, 3) uint8 RGB. expressions: (N,) int64. valence_arousal: (N, 2) float32.
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
        return MultiTaskFaces(
            self.images[index], self.expressions[index], self.valence_arousal[index],
            self.action_units[index],
            [self.sources[i] for i in index] if self.sources else [],
            self.expression_space, self.au_space)

    def counts(self) -> dict[str, int]:
        """How many frames carry each task's label."""
        return {"frames": len(self), "expression": int(self.has_expression.sum()),
                "valence_arousal": int(self.has_valence_arousal.sum()),
                "action_units": int(self.has_action_units.sum())}


# --- annotation files ---------------------------------------------------------------------

def _norm(name: str) -> str:
    return name.strip().lower().replace(" ", "")


def read_annotation(path: Path, task: str) -> np.ndarray:
    """One per-video annotation file -> (frames, columns) float array, header checked by name."""
    expected = TASK_HEADERS[task]
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataFormatError(path, f"cannot read annotation file ({err.__class__.__name__})") \
            from None
    if not lines:
        raise DataFormatError(path, "empty annotation file (expected a header line)")
    header = [_norm(h) for h in lines[0].split(",")]
    if header != [_norm(h) for h in expected]:
        raise DataFormatError(path, f"header is '{lines[0].strip()}', expected "
                              f"'{','.join(expected)}'")
    rows = [line for line in lines[1:] if line.strip()]
    width = 1 if task == "expr" else len(expected)
    if not rows:
        return np.zeros((0, width), np.float64)
    try:
        values = np.array([[float(v) for v in row.split(",")] for row in rows], np.float64)
    except ValueError:
        raise DataFormatError(path, "non-numeric value in the annotation lines") from None
    if values.ndim != 2 or values.shape[1] != width:
        raise DataFormatError(path, f"expected {width} value(s) per line")
    return values


def _check_values(values: np.ndarray, task: str, where: str | Path) -> None:
    """Labels must be in their published range or be the task's missing marker."""
    if task == "va":
        bad = ~((np.abs(values) <= 1.0) | (values == VA_MISSING))
    elif task == "expr":
        bad = ~np.isin(values, np.arange(-1, AFFWILD2_EXPRESSIONS.num_classes))
    else:
        bad = ~np.isin(values, (AU_MISSING, 0.0, 1.0))
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise DataFormatError(where, f"{task} label {values[row].tolist()} on data line "
                              f"{row + 1} is outside its range")


def _walk_dirs(root: Path, max_depth: int = 3):
    """Folders under ``root`` up to ``max_depth`` levels, never descending into the frames."""
    base = len(root.parts)
    for current, dirs, _ in os.walk(root):
        depth = len(Path(current).parts) - base
        dirs[:] = sorted(d for d in dirs if d != FRAMES_DIR and not d.startswith("."))
        if depth >= max_depth:
            dirs[:] = []
        yield Path(current), dirs


def find_task_folders(root: Path, split: str) -> dict[str, Path]:
    """Per task, the folder of per-video files of ``split`` (tasks without one are absent)."""
    found: dict[str, Path] = {}
    for current, dirs in _walk_dirs(root):
        for task, prefix in TASK_PREFIXES.items():
            if task in found or not current.name.lower().startswith(prefix):
                continue
            for name in dirs:
                if name.lower() in SPLIT_FOLDERS[split]:
                    found[task] = current / name
    return found


def find_list_file(root: Path, split: str) -> Path | None:
    wanted = LIST_FILES[split]
    for current, _ in _walk_dirs(root):
        for name in sorted(os.listdir(current)):
            if name.lower() in wanted and (current / name).is_file():
                return current / name
    return None


# --- the two layouts -> (sources, labels) --------------------------------------------------

@dataclass
class _Labels:
    sources: list[str]
    expressions: np.ndarray
    valence_arousal: np.ndarray
    action_units: np.ndarray


def _empty_labels(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.full(n, EXPR_MISSING, np.int64), np.full((n, 2), np.nan, np.float32),
            np.full((n, AFFWILD2_ACTION_UNITS.num_classes), AU_MISSING, np.float32))


def _per_video_labels(root: Path, folders: dict[str, Path], frame_step: int) -> _Labels:
    per_task: dict[str, dict[str, np.ndarray]] = {}
    for task, folder in folders.items():
        per_task[task] = {}
        for path in sorted(folder.glob("*.txt")):
            values = read_annotation(path, task)
            _check_values(values, task, path)
            per_task[task][path.stem] = values
    videos = sorted({video for table in per_task.values() for video in table})
    sources: list[str] = []
    columns: dict[str, list[np.ndarray]] = {"va": [], "expr": [], "au": []}
    for video in videos:
        length = max(len(table[video]) for table in per_task.values() if video in table)
        frames = np.arange(0, length, frame_step)
        names = [f"{video}/{i + 1:05d}.jpg" for i in frames]
        present = np.array([(root / FRAMES_DIR / name).is_file() for name in names], bool)
        expr, va, au = _empty_labels(len(frames))
        for task, target in (("expr", expr), ("va", va), ("au", au)):
            values = per_task.get(task, {}).get(video)
            if values is None:
                continue
            inside = frames < len(values)
            picked = values[frames[inside]]
            if task == "expr":
                target[inside] = picked[:, 0].astype(np.int64)
            elif task == "va":
                target[inside] = np.where(picked == VA_MISSING, np.nan, picked)
            else:
                target[inside] = picked
        keep = present & ((expr >= 0) | ~np.isnan(va).any(1) | (au >= 0).all(1))
        sources.extend(name for name, k in zip(names, keep, strict=True) if k)
        columns["expr"].append(expr[keep])
        columns["va"].append(va[keep])
        columns["au"].append(au[keep])
    expr, va, au = _empty_labels(0)
    return _Labels(sources,
                   np.concatenate(columns["expr"]) if sources else expr,
                   np.concatenate(columns["va"]) if sources else va,
                   np.concatenate(columns["au"]) if sources else au)


def _list_file_labels(root: Path, path: Path, frame_step: int) -> _Labels:
    """A multi-task list file; columns matched by name (case- and space-insensitive)."""
    import pandas as pd

    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise DataFormatError(path, f"cannot read list file ({err.__class__.__name__})") from None
    by_name = {_norm(c): c for c in table.columns}
    wanted = ["image", "valence", "arousal", "expression", *(a.lower() for a in
                                                             AFFWILD2_ACTION_UNITS.labels)]
    missing = [w for w in wanted if w not in by_name]
    if missing:
        raise DataFormatError(path, f"missing column(s) {', '.join(missing)}")
    table = table.iloc[::frame_step]
    try:
        va = table[[by_name["valence"], by_name["arousal"]]].to_numpy(np.float64)
        expr = table[by_name["expression"]].to_numpy(np.float64)
        au = table[[by_name[a] for a in wanted[4:]]].to_numpy(np.float64)
    except ValueError:
        raise DataFormatError(path, "non-numeric label values") from None
    _check_values(va, "va", path)
    _check_values(expr, "expr", path)
    _check_values(au, "au", path)
    sources = [str(name).strip().replace("\\", "/") for name in table[by_name["image"]]]
    present = np.array([(root / FRAMES_DIR / name).is_file() for name in sources], bool)
    if len(sources) and not present.any():
        raise DataFormatError(path, f"none of its images exist under {root / FRAMES_DIR}")
    va = np.where(va == VA_MISSING, np.nan, va).astype(np.float32)
    return _Labels([s for s, k in zip(sources, present, strict=True) if k],
                   expr[present].astype(np.int64), va[present], au[present].astype(np.float32))


def read_labels(root: Path, split: str, layout: str = "auto", frame_step: int = 1) -> _Labels:
    """Labels of ``split`` in ``layout`` (auto: the list file when present, else per-video)."""
    if split not in SPLITS:
        raise UserError(f"Aff-Wild2 split '{split}'; known: {', '.join(SPLITS)}")
    if layout not in ("auto", "mtl", "per_video"):
        raise UserError(f"Aff-Wild2 layout '{layout}'; known: auto, mtl, per_video")
    if layout in ("auto", "mtl"):
        list_file = find_list_file(root, split)
        if list_file is not None:
            return _list_file_labels(root, list_file, frame_step)
        if layout == "mtl":
            raise DataFormatError(root, f"no {LIST_FILES[split][0]} found")
    folders = find_task_folders(root, split)
    if not folders:
        raise DataFormatError(root, f"no annotations for split '{split}' (expected "
                              f"VA_*/EXPR_*/AU_* folders with {SPLIT_FOLDERS[split][0]} inside, "
                              f"or {LIST_FILES[split][0]})")
    return _per_video_labels(root, folders, frame_step)


# --- decoding and the cache ----------------------------------------------------------------

def _decode(path: Path, size: int) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise DataFormatError(path, f"cannot read image ({err.__class__.__name__})") from None


def _digest(labels: _Labels) -> str:
    """Changes whenever a frame or a label changes: the cache is never stale."""
    digest = hashlib.sha1("\n".join(labels.sources).encode())
    for values in (labels.expressions, labels.valence_arousal, labels.action_units):
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _save(faces: MultiTaskFaces, path: Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, images=faces.images, expressions=faces.expressions,
                     valence_arousal=faces.valence_arousal, action_units=faces.action_units,
                     sources=np.array(faces.sources))


def _load(path: Path) -> MultiTaskFaces | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return MultiTaskFaces(data["images"], data["expressions"], data["valence_arousal"],
                                  data["action_units"], [str(s) for s in data["sources"]])
    except (OSError, ValueError, KeyError) as err:
        log.warning("ignoring unreadable cache %s (%s)", path, err)
        return None


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
    cache = None
    if cache_dir is not None:
        key = cache_key(root.resolve(), split, layout, frame_step, image_size,
                        _digest(labels))
        cache = Path(cache_dir) / f"affwild2-{split}-{key}.npz"
        cached = _load(cache)
        if cached is not None:
            return cached
    shape = (len(labels.sources), image_size, image_size, 3)
    images = np.empty(shape, np.uint8)
    for i, name in enumerate(labels.sources):
        images[i] = _decode(root / FRAMES_DIR / name, image_size)
    faces = MultiTaskFaces(images, labels.expressions, labels.valence_arousal,
                           labels.action_units, labels.sources)
    if not len(faces):
        raise DataFormatError(root, f"split '{split}' has no labelled frame with an image")
    if cache is not None:
        _save(faces, cache)
    log.info("Aff-Wild2 %s: %s", split, faces.counts())
    return faces
