"""The detector interface: boxes as dataclasses, shared filtering (threshold, size, count)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from emoscope.data.images import shrink_to_max_side
from emoscope.errors import UserError
from emoscope.registry import DETECTORS

Point = tuple[float, float]

# Detection runs on frames no larger than this; boxes are mapped back to full resolution.
DETECT_MAX_SIDE = 1280


@dataclass(frozen=True)
class FaceBox:
    """A face in pixel coordinates of the image it was found in; ``score`` in [0, 1]."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 1.0
    landmarks: tuple[Point, ...] | None = None

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def center(self) -> Point:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)

    def clip(self, width: int, height: int) -> FaceBox:
        return replace(
            self,
            x1=min(max(self.x1, 0.0), width),
            y1=min(max(self.y1, 0.0), height),
            x2=min(max(self.x2, 0.0), width),
            y2=min(max(self.y2, 0.0), height),
        )

    def scaled(self, factor: float) -> FaceBox:
        if factor == 1.0:
            return self
        marks = None
        if self.landmarks is not None:
            marks = tuple((x * factor, y * factor) for x, y in self.landmarks)
        return replace(self, x1=self.x1 * factor, y1=self.y1 * factor, x2=self.x2 * factor,
                       y2=self.y2 * factor, landmarks=marks)

    def shifted(self, dx: float, dy: float) -> FaceBox:
        marks = None
        if self.landmarks is not None:
            marks = tuple((x + dx, y + dy) for x, y in self.landmarks)
        return replace(self, x1=self.x1 + dx, y1=self.y1 + dy, x2=self.x2 + dx,
                       y2=self.y2 + dy, landmarks=marks)

    def as_array(self) -> np.ndarray:
        return np.array([self.x1, self.y1, self.x2, self.y2], dtype=np.float64)


class FaceDetector:
    """Base class: subclasses implement ``_detect`` on an RGB uint8 image.

    threshold: minimum confidence. min_face: minimum box side in pixels of the given image.
    max_faces: keep the most confident N (0 keeps all). tiles: also detect on a tiles x tiles
    grid of overlapping crops, for small faces in large images (about tiles**2 times slower).
    tile_when_empty: with tiles > 1, detect on the tiles only when the whole image gave no
    face (the cost falls on face-less frames only). tile_threshold: minimum confidence of a
    box found on a tile (None: ``threshold``); a tile shows the detector more texture at a
    larger scale than the whole frame, and its false faces score higher.
    """

    name = "base"

    def __init__(self, threshold: float = 0.5, min_face: int = 20, max_faces: int = 0,
                 max_side: int = DETECT_MAX_SIDE, tiles: int = 1, tile_when_empty: bool = False,
                 tile_threshold: float | None = None):
        if tiles < 1:
            raise UserError(f"detector tiles must be at least 1, got {tiles}")
        for name, value in (("threshold", threshold), ("tile threshold", tile_threshold)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise UserError(f"detector {name} must be in [0, 1], got {value}")
        if min_face < 0 or max_faces < 0:
            raise UserError("min face size and max faces must not be negative")
        self.threshold = threshold
        self.min_face = min_face
        self.max_faces = max_faces
        self.max_side = max_side
        self.tiles = tiles
        self.tile_when_empty = tile_when_empty
        self.tile_threshold = threshold if tile_threshold is None else tile_threshold

    def _detect(self, rgb: np.ndarray, min_face: float) -> list[FaceBox]:
        raise NotImplementedError

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        """Faces in ``rgb`` (H, W, 3 uint8), most confident first, clipped to the image."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"detect expects (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
        height, width = rgb.shape[:2]
        boxes = self._detect_shrunk(rgb)
        wanted = not self.tile_when_empty or not self.filter(list(boxes), width, height)
        if self.tiles > 1 and wanted:
            for x0, y0, tile in _tiles(rgb, self.tiles):
                boxes += [b.shifted(x0, y0) for b in self._detect_shrunk(tile)
                          if b.score >= self.tile_threshold]
            boxes = suppress_overlaps(boxes)
        return self.filter(boxes, width, height)

    def _detect_shrunk(self, rgb: np.ndarray) -> list[FaceBox]:
        small, factor = shrink_to_max_side(rgb, self.max_side)
        return [b.scaled(factor) for b in self._detect(small, self.min_face / factor)]

    def filter(self, boxes: list[FaceBox], width: int, height: int) -> list[FaceBox]:
        kept = []
        for box in boxes:
            box = box.clip(width, height)
            if box.score < self.threshold:
                continue
            if min(box.width, box.height) < max(self.min_face, 1):
                continue
            kept.append(box)
        kept.sort(key=lambda b: b.score, reverse=True)
        return kept[: self.max_faces] if self.max_faces else kept

    def close(self) -> None:
        """Release native resources (graphs, sessions)."""

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def box_iou(a: FaceBox, b: FaceBox) -> float:
    inter_w = min(a.x2, b.x2) - max(a.x1, b.x1)
    inter_h = min(a.y2, b.y2) - max(a.y1, b.y1)
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    inter = inter_w * inter_h
    return inter / (a.area + b.area - inter)


def _contained(a: FaceBox, b: FaceBox) -> float:
    """Share of the smaller box inside the other (a face cut by a tile edge is inside)."""
    inter_w = min(a.x2, b.x2) - max(a.x1, b.x1)
    inter_h = min(a.y2, b.y2) - max(a.y1, b.y1)
    if inter_w <= 0 or inter_h <= 0:
        return 0.0
    return inter_w * inter_h / max(min(a.area, b.area), 1e-9)


def suppress_overlaps(boxes: list[FaceBox], iou: float = 0.3,
                      containment: float = 0.7) -> list[FaceBox]:
    """Non-maximum suppression: of overlapping boxes (by IoU or containment) keep the best."""
    kept: list[FaceBox] = []
    for box in sorted(boxes, key=lambda b: b.score, reverse=True):
        if all(box_iou(box, o) <= iou and _contained(box, o) <= containment for o in kept):
            kept.append(box)
    return kept


def _tiles(rgb: np.ndarray, grid: int, overlap: float = 0.25):
    """``grid`` x ``grid`` overlapping tiles as (x0, y0, view): small faces become larger
    relative to the detector's fixed input size (BlazeFace sees 128 or 192 pixels)."""
    height, width = rgb.shape[:2]
    step_y, step_x = height / grid, width / grid
    for row in range(grid):
        for col in range(grid):
            y0 = int(max(0, row * step_y - overlap * step_y))
            x0 = int(max(0, col * step_x - overlap * step_x))
            y1 = int(min(height, (row + 1) * step_y + overlap * step_y))
            x1 = int(min(width, (col + 1) * step_x + overlap * step_x))
            yield x0, y0, np.ascontiguousarray(rgb[y0:y1, x0:x1])


def build_detector(name: str = "mediapipe", **options: object) -> FaceDetector:
    """A registered detector by name (``emoscope list detectors``); the registry imports the
    built-in detector modules alone on its first lookup (no training stack)."""
    factory = DETECTORS.get(name)
    known = _parameters(factory)
    unknown = sorted(set(options) - known)
    if unknown:
        raise UserError(f"detector '{name}' has no setting {', '.join(unknown)}; "
                        f"settings: {', '.join(sorted(known))}")
    return factory(**options)


def _parameters(factory: object) -> set[str]:
    import inspect

    names: set[str] = set()
    for cls in getattr(factory, "__mro__", (factory,)):
        init = getattr(cls, "__init__", None) if isinstance(cls, type) else cls
        if init is None or init is object.__init__:
            continue
        for param in inspect.signature(init).parameters.values():
            if param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL) and \
                    param.name != "self":
                names.add(param.name)
    return names
