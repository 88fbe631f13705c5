"""Face boxes and face visibility for EMOTIC persons, computed once and cached beside the data.

For each person the face detector runs inside the body box; the most confident face becomes
the face box. A MediaPipe face mesh (478 landmarks, refined) then runs on the face with a
margin, and the visibility score is the share of landmarks found inside the body crop (0-100):
a face cut by the body box or the image edge, or one the mesh cannot fit, scores low.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emoscope.data.emotic.face_cache import (
    FaceEntry,
    default_cache_path,
    load_face_cache,
    person_id,
    save_face_cache,
)
from emoscope.data.emotic.reader import read_emotic
from emoscope.data.emotic.records import SPLITS, EmoticPerson
from emoscope.data.images import load_image
from emoscope.errors import MediaError
from emoscope.faces.face_mesh import FaceMesh
from emoscope.utils.files import atomic_path

log = logging.getLogger(__name__)

FACE_MARGIN = 0.4  # the mesh sees the face box grown by this share on every side


@dataclass
class PrepareReport:
    """What a prepare run did."""

    cache_path: Path
    histogram_path: Path
    persons: int
    computed: int
    reused: int
    with_face: int
    visibility: list[float] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # image: reason (skipped)


def visibility_score(mesh: FaceMesh, rgb: np.ndarray, face_box: tuple[float, ...],
                     body_box: tuple[float, ...]) -> float:
    """Share (0-100) of the mesh landmarks of the face at ``face_box`` inside ``body_box``."""
    height, width = rgb.shape[:2]
    points = mesh.landmarks_in_box(rgb, face_box, FACE_MARGIN)
    if points is None:
        return 0.0
    bx1, by1, bx2, by2 = body_box
    inside = ((points[:, 0] >= max(bx1, 0)) & (points[:, 0] <= min(bx2, width))
              & (points[:, 1] >= max(by1, 0)) & (points[:, 1] <= min(by2, height)))
    return 100.0 * float(inside.sum()) / len(points)


def find_face(detector, mesh: FaceMesh, rgb: np.ndarray, person: EmoticPerson) -> FaceEntry:
    """The face inside ``person``'s body box (original image pixels) and its visibility."""
    height, width = rgb.shape[:2]
    sx, sy = width / person.width, height / person.height
    body = (person.body_box[0] * sx, person.body_box[1] * sy, person.body_box[2] * sx,
            person.body_box[3] * sy)
    x1, y1 = max(int(body[0]), 0), max(int(body[1]), 0)
    x2, y2 = min(int(np.ceil(body[2])), width), min(int(np.ceil(body[3])), height)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return FaceEntry(None, 0.0, 0.0)
    faces = detector.detect(np.ascontiguousarray(rgb[y1:y2, x1:x2]))
    if not faces:
        return FaceEntry(None, 0.0, 0.0)
    best = max(faces, key=lambda f: f.score)
    box = (best.x1 + x1, best.y1 + y1, best.x2 + x1, best.y2 + y1)
    score = visibility_score(mesh, rgb, box, body)
    original = (box[0] / sx, box[1] / sy, box[2] / sx, box[3] / sy)
    return FaceEntry(original, float(best.score), score)


def _source(person: EmoticPerson) -> tuple:
    if person.image_path is not None:
        return ("file", str(person.image_path))
    return ("array", str(person.image_array.path), person.image_array.index)


def _load(person: EmoticPerson) -> np.ndarray:
    if person.image_path is not None:
        return load_image(person.image_path).rgb
    return person.image_array.load()


def plot_visibility(values: list[float], path: Path, with_face: int) -> Path:
    """Histogram of face visibility scores (0-100) as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(values, bins=np.linspace(0, 100, 21), color="#4477aa", edgecolor="white")
    ax.set_xlabel("face visibility (% of mesh landmarks inside the body crop)")
    ax.set_ylabel("persons")
    ax.set_title(f"EMOTIC faces: {with_face} of {len(values)} persons with a face box")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def prepare_emotic(root: str | Path, out: str | Path | None = None,
                   detector: str = "mediapipe", detector_options: dict | None = None,
                   splits: tuple[str, ...] = SPLITS, layout: str | None = None,
                   min_visibility: float = 0.0, save_every: int = 25,
                   progress: Callable[[int, int], None] | None = None) -> PrepareReport:
    """Detect and cache face boxes + visibility for every person; persons already in the
    cache are kept as they are (a second run only does what is missing). Unreadable images
    are reported (``report.unreadable``) and skipped; their persons get no cache row.

    out: the cache CSV (default ``ROOT/emotic_faces.csv``); the histogram is written beside
    it as ``<out stem>_visibility.png``. min_visibility: faces scoring lower get no box.
    """
    root = Path(root)
    out = Path(out) if out else default_cache_path(root)
    data = read_emotic(root, splits, layout=layout, face_cache=out if out.is_file() else None)
    entries = load_face_cache(out)
    todo: dict[tuple, list[EmoticPerson]] = {}
    for person in data.persons:
        if person_id(person) not in entries:
            todo.setdefault(_source(person), []).append(person)
    computed = sum(len(group) for group in todo.values())
    log.info("EMOTIC prepare: %d person(s), %d cached, %d to do in %d image(s)",
             len(data.persons), len(data.persons) - computed, computed, len(todo))
    unreadable: dict[str, str] = {}
    if todo:
        unreadable = _detect_faces(todo, entries, out, data.persons, detector,
                                   detector_options, min_visibility, save_every, progress)
    cached = [p for p in data.persons if person_id(p) in entries]
    visibility = [entries[person_id(p)].visibility for p in cached]
    with_face = sum(entries[person_id(p)].box is not None for p in cached)
    histogram = plot_visibility(visibility, out.with_name(f"{out.stem}_visibility.png"),
                                with_face)
    skipped = sum(len(group) for source, group in todo.items() if _name(source) in unreadable)
    return PrepareReport(out, histogram, len(data.persons), computed - skipped,
                         len(data.persons) - computed, with_face, visibility, unreadable)


def _name(source: tuple) -> str:
    return source[1] if source[0] == "file" else f"{source[1]}[{source[2]}]"


def _detect_faces(todo: dict[tuple, list[EmoticPerson]], entries: dict[str, FaceEntry],
                  out: Path, persons: list[EmoticPerson], detector: str,
                  detector_options: dict | None, min_visibility: float, save_every: int,
                  progress: Callable[[int, int], None] | None) -> dict[str, str]:
    """Fill ``entries`` for the persons of ``todo`` (grouped by image), saving the cache every
    ``save_every`` images and whatever was done when anything stops the loop. Images that
    cannot be read are reported and skipped; returns them (path: reason)."""
    from emoscope.faces.detectors import build_detector

    unreadable: dict[str, str] = {}
    face_detector = build_detector(detector, **{"min_face": 10, **(detector_options or {})})
    mesh = FaceMesh(refine=True)
    try:
        for done, (source, group) in enumerate(todo.items(), start=1):
            try:
                rgb = _load(group[0])
            except (MediaError, OSError, ValueError) as err:
                unreadable[_name(source)] = str(err)
                log.warning("EMOTIC prepare: skipping unreadable image %s (%s)", _name(source),
                            err)
                group = []
            for person in group:
                entry = find_face(face_detector, mesh, rgb, person)
                if entry.box is not None and entry.visibility < min_visibility:
                    entry = FaceEntry(None, entry.score, entry.visibility)
                entries[person_id(person)] = entry
            if done % save_every == 0:
                save_face_cache(out, persons, entries)  # resumable after a crash
            if progress is not None:
                progress(done, len(todo))
    finally:
        save_face_cache(out, persons, entries)  # also when interrupted: a rerun goes on
        face_detector.close()
        mesh.close()
    return unreadable
