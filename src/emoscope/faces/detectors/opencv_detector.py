"""OpenCV Haar cascade: no extra dependency, frontal faces only, a heuristic confidence."""

from __future__ import annotations

import math

import numpy as np

from emoscope.errors import UserError
from emoscope.faces.detectors.base import FaceBox, FaceDetector
from emoscope.registry import DETECTORS


@DETECTORS.register("opencv")
class HaarDetector(FaceDetector):
    """Viola-Jones frontal face cascade from ``cv2.data``.

    The cascade gives no probability; its final-stage weight ``w`` is mapped to a score with
    ``1 / (1 + exp(-w / 2))`` (w = 0 -> 0.5), so the common threshold keeps a rough meaning.
    """

    name = "opencv"

    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml",
                 scale_factor: float = 1.1, min_neighbors: int = 5, **options: object):
        super().__init__(**options)
        import cv2

        path = cascade if "/" in cascade else cv2.data.haarcascades + cascade
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise UserError(f"cannot load Haar cascade '{path}'")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors

    def _detect(self, rgb: np.ndarray, min_face: float) -> list[FaceBox]:
        import cv2

        grey = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        side = max(int(min_face), 12)
        rects, _, weights = self._cascade.detectMultiScale3(
            grey, self.scale_factor, self.min_neighbors, minSize=(side, side),
            outputRejectLevels=True,
        )
        boxes = []
        for (x, y, w, h), weight in zip(rects, np.ravel(weights), strict=False):
            score = 1.0 / (1.0 + math.exp(-float(weight) / 2.0))
            boxes.append(FaceBox(float(x), float(y), float(x + w), float(y + h), score))
        return boxes
