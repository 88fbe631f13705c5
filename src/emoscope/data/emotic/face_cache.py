"""The per-person face cache written by ``emoscope prepare emotic``: a CSV beside the data.

One row per person and split with the published fields (key, image, body box) plus the extra
columns ``face_x1, face_y1, face_x2, face_y2`` (empty when no face was found), ``face_score``
(detector confidence) and ``face_visibility`` (0-100).
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from emoscope.data.emotic.records import EmoticPerson
from emoscope.errors import DataFormatError
from emoscope.utils.files import atomic_path

log = logging.getLogger(__name__)

CACHE_NAME = "emotic_faces.csv"
COLUMNS = ("key", "split", "image", "body_x1", "body_y1", "body_x2", "body_y2",
           "face_x1", "face_y1", "face_x2", "face_y2", "face_score", "face_visibility")


@dataclass(frozen=True)
class FaceEntry:
    """What ``prepare`` found for one person; ``box`` is None when no face was found."""

    box: tuple[float, float, float, float] | None
    score: float
    visibility: float


def default_cache_path(root: Path) -> Path:
    return Path(root) / CACHE_NAME


def person_id(person: EmoticPerson) -> str:
    """Cache key: the person key plus its rounded body box, so a changed box is redone."""
    box = ",".join(f"{v:.1f}" for v in person.body_box)
    return f"{person.key}@{box}"


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def load_face_cache(path: Path) -> dict[str, FaceEntry]:
    """person id -> FaceEntry; empty when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return {}
    entries: dict[str, FaceEntry] = {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataFormatError(path, f"missing column '{missing[0]}' (not a face cache "
                                  "written by 'emoscope prepare emotic'?)")
        for row in reader:
            corners = [_float(row[c]) for c in ("face_x1", "face_y1", "face_x2", "face_y2")]
            box = tuple(corners) if all(v is not None for v in corners) else None
            person_key = f"{row['key']}@" + ",".join(
                f"{float(row[c]):.1f}" for c in ("body_x1", "body_y1", "body_x2", "body_y2"))
            entries[person_key] = FaceEntry(box, _float(row["face_score"]) or 0.0,
                                            _float(row["face_visibility"]) or 0.0)
    return entries


def save_face_cache(path: Path, persons: list[EmoticPerson],
                    entries: dict[str, FaceEntry]) -> None:
    """Write the rows of ``persons`` that have an entry (atomically)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for person in persons:
                entry = entries.get(person_id(person))
                if entry is None:
                    continue
                face = [f"{v:.2f}" for v in entry.box] if entry.box else ["", "", "", ""]
                image = str(person.image_path or (person.image_array and person.image_array.path))
                writer.writerow([person.key, person.split, image,
                                 *(f"{v:.2f}" for v in person.body_box), *face,
                                 f"{entry.score:.4f}", f"{entry.visibility:.1f}"])


def apply_face_cache(persons: list[EmoticPerson], entries: dict[str, FaceEntry]) -> int:
    """Copy cached faces onto the persons; returns how many persons have a cache entry."""
    found = 0
    for person in persons:
        entry = entries.get(person_id(person))
        if entry is None:
            continue
        found += 1
        person.face_box = entry.box
        person.face_visibility = entry.visibility
    return found
