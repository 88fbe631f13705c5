"""One record per annotated person, shared by the three EMOTIC layouts, and the checks that
turn a published row into a record or into a named reason for skipping it."""

from __future__ import annotations

import ast
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emoscope.errors import DataFormatError
from emoscope.labels import EMOTIC_CATEGORIES, EMOTIC_VAD

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
VAD_LOW, VAD_HIGH = EMOTIC_VAD.value_range


@dataclass(frozen=True)
class ArraySource:
    """Pixels stored in a .npy file: the whole file, or row ``index`` of an (N, H, W, 3) stack."""

    path: Path
    index: int | None = None

    def load(self) -> np.ndarray:
        array = np.load(self.path, mmap_mode="r")
        if self.index is not None:
            array = array[self.index]
        return np.ascontiguousarray(array, dtype=np.uint8)


@dataclass
class EmoticPerson:
    """One annotated person: where the image is, the body box, labels and the cached face.

    body_box is [x1, y1, x2, y2] in pixels of the original image (``width`` x ``height``),
    already clipped to it. categories is a 26-dim 0/1 vector in ``EMOTIC_CATEGORIES`` order;
    vad holds valence, arousal, dominance on the 1-10 scale. face_box (same coordinates) and
    face_visibility (0-100) come from ``emoscope prepare emotic``; None when no face was found.
    """

    key: str
    split: str
    image_path: Path | None
    width: int
    height: int
    body_box: tuple[float, float, float, float]
    categories: np.ndarray
    vad: np.ndarray
    gender: str = ""
    age: str = ""
    image_array: ArraySource | None = None
    body_array: ArraySource | None = None
    face_box: tuple[float, float, float, float] | None = None
    face_visibility: float | None = None

    @property
    def category_names(self) -> list[str]:
        return [EMOTIC_CATEGORIES.labels[i] for i in np.flatnonzero(self.categories)]


@dataclass(frozen=True)
class SkippedRow:
    """A published row that was not used, and why."""

    file: str
    row: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file} {self.row}: {self.reason}"


@dataclass
class EmoticData:
    """What a reader returns: the usable persons and every skipped row with its reason."""

    persons: list[EmoticPerson]
    skipped: list[SkippedRow] = field(default_factory=list)
    layout: str = ""
    root: Path | None = None

    def split(self, name: str) -> list[EmoticPerson]:
        return [p for p in self.persons if p.split == name]

    def skip_summary(self) -> str:
        """One line: how many rows were skipped, by reason."""
        if not self.skipped:
            return "no rows skipped"
        reasons = Counter(_reason_kind(s.reason) for s in self.skipped)
        parts = ", ".join(f"{n} {kind}" for kind, n in reasons.most_common())
        return f"skipped {len(self.skipped)} row(s): {parts}"


class RowProblem(ValueError):
    """A row that cannot become a record; the message is the reason shown to the user."""


# A value at the end of a reason: quoted, a list, a number or a size ("'abc'", "[1, 2]", "640x480").
_TRAILING_VALUE = re.compile(r"""\s+(?:'[^']*'|"[^"]*"|\[[^\]]*\]|-?[\d.]+(?:x[\d.]+)?)\s*$""")


def _reason_kind(reason: str) -> str:
    """The reason without the values in it: rows skipped for one cause count as one kind."""
    kind = reason.split(":", 1)[0].split(" (", 1)[0]
    if ", got " in kind:  # "must be 0 or 1, got [0, 2]": the value follows the comma
        return kind.split(", got ", 1)[0].strip()
    return _TRAILING_VALUE.sub("", kind).strip()


def normalise_column(name: str) -> str:
    """Column names compare case-, space-, underscore- and hyphen-insensitively."""
    return "".join(ch for ch in str(name).lower() if ch not in " _-\t")


class Columns:
    """Finds columns of a table by any of their known spellings."""

    def __init__(self, path: Path, names: Iterable[str]):
        self.path = path
        self.names = list(names)
        self._by_key = {normalise_column(n): n for n in self.names}

    def find(self, *spellings: str) -> str | None:
        for spelling in spellings:
            hit = self._by_key.get(normalise_column(spelling))
            if hit is not None:
                return hit
        return None

    def require(self, *spellings: str) -> str:
        hit = self.find(*spellings)
        if hit is None:
            raise DataFormatError(self.path, f"missing column '{spellings[0]}' (columns found: "
                                  f"{', '.join(map(str, self.names)) or 'none'})")
        return hit


_CATEGORY_KEYS = {normalise_column(name): i for i, name in enumerate(EMOTIC_CATEGORIES.labels)}
_CATEGORY_KEYS.update({"doubtconfusion": 9, "doubt": 9, "confusion": 9})


def category_index(name: str) -> int | None:
    return _CATEGORY_KEYS.get(normalise_column(name).replace("/", ""))


def multi_hot(names: Sequence[str]) -> np.ndarray:
    """26-dim float32 0/1 vector; RowProblem on unknown names or an empty list."""
    vector = np.zeros(EMOTIC_CATEGORIES.num_classes, np.float32)
    for name in names:
        index = category_index(str(name))
        if index is None:
            raise RowProblem(f"unknown category: '{name}'")
        vector[index] = 1.0
    if not vector.any():
        raise RowProblem("no categories")
    return vector


def check_multi_hot(values: Sequence[object]) -> np.ndarray:
    """0/1 values in canonical order -> float32 vector; RowProblem on NaN, non-0/1 or none set."""
    try:
        vector = np.asarray([float(v) for v in values], np.float64)
    except (TypeError, ValueError):
        raise RowProblem("missing categories (non-numeric value)") from None
    if np.isnan(vector).any():
        raise RowProblem("missing categories (NaN)")
    if not np.isin(vector, (0.0, 1.0)).all():
        raise RowProblem(f"categories must be 0 or 1, got {sorted(set(vector.tolist()))}")
    if not vector.any():
        raise RowProblem("no categories")
    return vector.astype(np.float32)


def check_vad(values: Sequence[object]) -> np.ndarray:
    """Three ratings on the 1-10 scale -> float32 (3,); RowProblem when missing or out of range."""
    if len(values) != 3:
        raise RowProblem(f"missing continuous labels (expected 3 values, got {len(values)})")
    try:
        vad = np.asarray([float(v) for v in values], np.float64)
    except (TypeError, ValueError):
        raise RowProblem("missing continuous labels (non-numeric value)") from None
    if np.isnan(vad).any():
        raise RowProblem("missing continuous labels (NaN)")
    if (vad < VAD_LOW).any() or (vad > VAD_HIGH).any():
        raise RowProblem(f"continuous labels outside {VAD_LOW:g}-{VAD_HIGH:g}: {vad.tolist()}")
    return vad.astype(np.float32)


def clip_box(box: Sequence[object], width: int, height: int) -> tuple[float, float, float, float]:
    """[x1, y1, x2, y2] clipped to the image; RowProblem when malformed or empty after clipping."""
    try:
        x1, y1, x2, y2 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise RowProblem(f"bad body box: {list(box)!r}") from None
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise RowProblem(f"bad body box: {[x1, y1, x2, y2]}")
    if x2 <= x1 or y2 <= y1:
        raise RowProblem(f"zero-area body box: {[x1, y1, x2, y2]}")
    cx1, cy1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
    cx2, cy2 = min(max(x2, 0.0), width), min(max(y2, 0.0), height)
    if cx2 - cx1 < 1 or cy2 - cy1 < 1:
        raise RowProblem(f"body box outside the image: {[x1, y1, x2, y2]} ({width}x{height})")
    return (float(cx1), float(cy1), float(cx2), float(cy2))


def literal_list(cell: object, what: str) -> list:
    """A cell written as a Python list literal (``"['Peace', 'Happiness']"``) -> list."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        raise RowProblem(f"missing {what}")
    if isinstance(cell, (list, tuple)):
        return list(cell)
    text = str(cell).strip()
    if not text:
        raise RowProblem(f"missing {what}")
    try:
        value = ast.literal_eval(re.sub(r"\bnan\b", "None", text))
    except (ValueError, SyntaxError):
        raise RowProblem(f"unreadable {what} {text!r}") from None
    if not isinstance(value, (list, tuple)):
        value = [value]
    if any(v is None for v in value):
        raise RowProblem(f"missing {what} (NaN)")
    return list(value)


def positive_int(value: object, what: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RowProblem(f"bad {what} {value!r}") from None
    if not math.isfinite(number) or number < 1:
        raise RowProblem(f"bad {what} {value!r}")
    return int(round(number))


def text_value(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def log_skips(data: EmoticData, limit: int = 20) -> None:
    """Warn once per skipped row (up to ``limit``) and once with the summary."""
    for row in data.skipped[:limit]:
        log.warning("%s", row)
    if len(data.skipped) > limit:
        log.warning("... and %d more skipped row(s)", len(data.skipped) - limit)
    if data.skipped:
        log.warning("EMOTIC %s: %s; %d person(s) kept", data.root, data.skip_summary(),
                    len(data.persons))
