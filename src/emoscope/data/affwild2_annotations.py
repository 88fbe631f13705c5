"""Aff-Wild2 (ABAW) annotation files in the published layouts -> frame names and labels.

- per-video annotation files, one folder per task (``VA_*``, ``EXPR_*``, ``AU_*``, e.g.
  ``annotations/VA_Estimation_Challenge/Train_Set/<video>.txt``) with one line per frame after
  a header; line ``i + 1`` belongs to ``cropped_aligned/<video>/<i:05d>.jpg``, so a blank or
  malformed line is an error naming the file and the line (dropping it would shift every later
  label by one frame);
- multi-task list files with ``image,valence,arousal,expression,AU1,...,AU26`` per frame, or
  the combined header ``image,valence,arousal,expression,aus`` (the 12 AU values still follow
  as separate fields). Their names differ between releases (``training_set_annotations.txt``,
  ``Train_Set.txt``, ...): a ``.txt``/``.csv`` file whose name says train or validation and whose
  header starts with ``image`` is one.

Folders are searched a few levels deep (a release unzipped twice nests one level more), files
may start with a UTF-8 byte-order mark, and a video in one task's training set but another
task's validation set is reported (the release's per-task splits differ).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emoscope.errors import DataFormatError
from emoscope.labels import AFFWILD2_ACTION_UNITS, AFFWILD2_EXPRESSIONS

log = logging.getLogger(__name__)

FRAMES_DIR = "cropped_aligned"
VA_MISSING, EXPR_MISSING, AU_MISSING = -5.0, -1, -1.0
TASK_PREFIXES = {"va": "va_", "expr": "expr_", "au": "au_"}
TASK_HEADERS = {"va": ("valence", "arousal"), "expr": AFFWILD2_EXPRESSIONS.labels,
                "au": AFFWILD2_ACTION_UNITS.labels}
SPLIT_FOLDERS = {"train": ("train_set", "training_set"), "val": ("validation_set", "val_set")}
LIST_FILES = {"train": ("training_set_annotations.txt",),
              "val": ("validation_set_annotations.txt",)}
LIST_NAME_WORDS = {"train": ("train",), "val": ("validation", "valid", "val")}
SPLITS = ("train", "val")
SEARCH_DEPTH = 5  # root/annotations/annotations/VA_*/Train_Set after a double unzip is 4


def norm_name(name: str) -> str:
    return name.strip().lower().replace(" ", "")


def read_lines(path: Path, what: str) -> list[str]:
    try:
        # utf-8-sig: a byte-order mark before the header is not part of its first name
        return path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataFormatError(path, f"cannot read {what} ({err.__class__.__name__})") from None


def read_annotation(path: Path, task: str) -> np.ndarray:
    """One per-video annotation file -> (frames, columns) float array, header checked by name,
    every line after it one frame (blank lines at the very end are ignored)."""
    expected = TASK_HEADERS[task]
    lines = read_lines(path, "annotation file")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataFormatError(path, "empty annotation file (expected a header line)")
    header = [norm_name(h) for h in lines[0].split(",")]
    if header != [norm_name(h) for h in expected]:
        raise DataFormatError(path, f"header is '{lines[0].strip()}', expected "
                              f"'{','.join(expected)}'")
    width = 1 if task == "expr" else len(expected)
    values = np.empty((len(lines) - 1, width), np.float64)
    for row, line in enumerate(lines[1:]):
        number = row + 2  # the header is line 1
        if not line.strip():
            raise DataFormatError(path, f"line {number} is blank (every line after the header "
                                  "is one frame; a dropped line would shift later labels)")
        fields = line.split(",")
        if len(fields) != width:
            raise DataFormatError(path, f"line {number} has {len(fields)} field(s), expected "
                                  f"{width}")
        try:
            values[row] = [float(v) for v in fields]
        except ValueError:
            raise DataFormatError(path, f"line {number}: non-numeric value in "
                                  f"'{line.strip()[:60]}'") from None
    return values


def check_values(values: np.ndarray, task: str, where: str | Path, first_line: int = 2,
                 row_name: str = "line") -> None:
    """Labels must be in their published range or be the task's missing marker; row ``i`` is
    ``row_name`` ``first_line + i`` of the file."""
    if task == "va":
        bad = ~((np.abs(values) <= 1.0) | (values == VA_MISSING))
    elif task == "expr":
        bad = ~np.isin(values, np.arange(-1, AFFWILD2_EXPRESSIONS.num_classes))
    else:
        bad = ~np.isin(values, (AU_MISSING, 0.0, 1.0))
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise DataFormatError(where, f"{task} label {values[row].tolist()} on {row_name} "
                              f"{row + first_line} is outside its range")


def _walk_dirs(root: Path, max_depth: int = SEARCH_DEPTH):
    """Folders under ``root`` up to ``max_depth`` levels, never descending into the frames."""
    base = len(root.parts)
    for current, dirs, files in os.walk(root):
        depth = len(Path(current).parts) - base
        dirs[:] = sorted(d for d in dirs if d != FRAMES_DIR and not d.startswith("."))
        yield Path(current), list(dirs), sorted(files)
        if depth >= max_depth - 1:
            dirs[:] = []  # the names are listed, their contents are not walked


def find_task_folders(root: Path, split: str) -> dict[str, Path]:
    """Per task, the folder of per-video files of ``split`` (tasks without one are absent)."""
    found: dict[str, Path] = {}
    for current, dirs, _ in _walk_dirs(root):
        for task, prefix in TASK_PREFIXES.items():
            if task in found or not current.name.lower().startswith(prefix):
                continue
            for name in dirs:
                if name.lower() in SPLIT_FOLDERS[split]:
                    found[task] = current / name
    return found


def _is_list_file(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            first = handle.readline(4096)
    except OSError:
        return False
    return norm_name(first).split(",")[0] == "image"


def _names_split(name: str, split: str) -> bool:
    stem = name.lower().rsplit(".", 1)[0]
    words = stem.replace("-", "_").replace(" ", "_").split("_")
    other = SPLITS[1 - SPLITS.index(split)]
    mentions = [any(w.startswith(k) for w in words for k in LIST_NAME_WORDS[s])
                for s in (split, other)]
    return mentions[0] and not mentions[1]


def find_list_file(root: Path, split: str) -> Path | None:
    """The multi-task list file of ``split``: a published name, else a .txt/.csv file whose
    name says the split and whose header starts with ``image``."""
    wanted = LIST_FILES[split]
    candidates: list[Path] = []
    for current, _, files in _walk_dirs(root):
        for name in files:
            if name.lower() in wanted:
                return current / name
            if name.lower().endswith((".txt", ".csv")) and _names_split(name, split):
                candidates.append(current / name)
    return next((path for path in candidates if _is_list_file(path)), None)


@dataclass
class Labels:
    """Frame names (``<video>/<frame>.jpg``) and their labels, missing ones masked."""

    sources: list[str]
    expressions: np.ndarray
    valence_arousal: np.ndarray
    action_units: np.ndarray


def empty_labels(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.full(n, EXPR_MISSING, np.int64), np.full((n, 2), np.nan, np.float32),
            np.full((n, AFFWILD2_ACTION_UNITS.num_classes), AU_MISSING, np.float32))


def _video_labels(root: Path, video: str, per_task: dict[str, dict[str, np.ndarray]],
                  frame_step: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    length = max(len(table[video]) for table in per_task.values() if video in table)
    frames = np.arange(0, length, frame_step)
    names = [f"{video}/{i + 1:05d}.jpg" for i in frames]
    present = np.array([(root / FRAMES_DIR / name).is_file() for name in names], bool)
    expr, va, au = empty_labels(len(frames))
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
    return [n for n, k in zip(names, keep, strict=True) if k], expr[keep], va[keep], au[keep]


def per_video_labels(root: Path, folders: dict[str, Path], frame_step: int) -> Labels:
    per_task: dict[str, dict[str, np.ndarray]] = {}
    for task, folder in folders.items():
        per_task[task] = {}
        for path in sorted(folder.glob("*.txt")):
            values = read_annotation(path, task)
            check_values(values, task, path)
            per_task[task][path.stem] = values
    videos = sorted({video for table in per_task.values() for video in table})
    sources: list[str] = []
    columns: dict[str, list[np.ndarray]] = {"va": [], "expr": [], "au": []}
    for video in videos:
        names, expr, va, au = _video_labels(root, video, per_task, frame_step)
        sources.extend(names)
        columns["expr"].append(expr)
        columns["va"].append(va)
        columns["au"].append(au)
    if not sources:
        return Labels([], *empty_labels(0))
    return Labels(sources, *(np.concatenate(columns[t]) for t in ("expr", "va", "au")))


def warn_split_overlap(root: Path, split: str, folders: dict[str, Path]) -> set[str]:
    """Videos of ``split`` (any task) that another task puts in the other split; warned."""
    other = SPLITS[1 - SPLITS.index(split)]
    here = {task: {p.stem for p in folder.glob("*.txt")} for task, folder in folders.items()}
    there = {task: {p.stem for p in folder.glob("*.txt")}
             for task, folder in find_task_folders(root, other).items()}
    shared = set().union(*here.values()) & set().union(*there.values()) if there else set()
    if shared:
        video = sorted(shared)[0]
        tasks_here = [t for t, videos in here.items() if video in videos]
        tasks_there = [t for t, videos in there.items() if video in videos]
        log.warning("Aff-Wild2: %d video(s) are in %s for one task and in %s for another, so "
                    "their frames are in both splits (e.g. %s: %s for %s, %s for %s)",
                    len(shared), split, other, video, split, "/".join(tasks_here), other,
                    "/".join(tasks_there))
    return shared
