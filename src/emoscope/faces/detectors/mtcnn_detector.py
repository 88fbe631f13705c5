"""MTCNN from facenet-pytorch (optional; its weights ship inside that package)."""

from __future__ import annotations

import numpy as np

from emoscope.errors import UserError
from emoscope.faces.detectors.base import FaceBox, FaceDetector
from emoscope.registry import DETECTORS

INSTALL_HINT = (
    "detector 'mtcnn' needs facenet-pytorch, which is not installed: "
    "pip install --no-deps facenet-pytorch (its torch pin is older than ours; "
    "or use --detector mediapipe)"
)


@DETECTORS.register("mtcnn")
class MTCNNDetector(FaceDetector):
    """Three-stage cascaded CNN with five landmarks; slower than MediaPipe, robust to pose."""

    name = "mtcnn"

    def __init__(self, device: str = "cpu", **options: object):
        super().__init__(**options)
        try:
            from facenet_pytorch import MTCNN
        except ImportError:
            raise UserError(INSTALL_HINT) from None
        self._mtcnn = MTCNN(keep_all=True, device=device, min_face_size=max(self.min_face, 12))

    def _detect(self, rgb: np.ndarray, min_face: float) -> list[FaceBox]:
        boxes, probs, points = self._mtcnn.detect(rgb, landmarks=True)
        if boxes is None:
            return []
        found = []
        for box, prob, marks in zip(boxes, probs, points, strict=False):
            landmarks = tuple((float(x), float(y)) for x, y in marks)
            found.append(FaceBox(*(float(v) for v in box), float(prob), landmarks))
        return found
