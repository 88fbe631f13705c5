"""The scene without its subject: the input of CLEF's context branch and CAER-Net-S's context
stream. The subject's pixels are set to zero, either the whole subject box or, where a person
segmentation model is available (MediaPipe's bundled selfie segmentation), the person's pixels
inside that box."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from emoscope.errors import UserError

log = logging.getLogger(__name__)

MaskMode = Literal["box", "segmentation", "auto"]
MASK_MODES = ("box", "segmentation", "auto")


def box_bounds(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """Integer pixel bounds ``[x1, x2) x [y1, y2)`` covering ``box``, clipped to the image
    (floor of the top-left corner, ceiling of the bottom-right one)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    left = min(max(math.floor(x1), 0), width)
    top = min(max(math.floor(y1), 0), height)
    right = min(max(math.ceil(x2), left), width)
    bottom = min(max(math.ceil(y2), top), height)
    return left, top, right, bottom


def zero_box(rgb: np.ndarray, box: Sequence[float] | None) -> np.ndarray:
    """A copy of ``rgb`` with the pixels of ``box`` (see ``box_bounds``) set to 0."""
    out = rgb.copy()
    if box is None:
        return out
    x1, y1, x2, y2 = box_bounds(box, rgb.shape[1], rgb.shape[0])
    out[y1:y2, x1:x2] = 0
    return out


class PersonSegmenter:
    """MediaPipe selfie segmentation (bundled with mediapipe 0.10.21, offline): per-pixel
    person probability of an RGB image. ``model_selection`` 1 is the landscape model."""

    def __init__(self, model_selection: int = 1):
        try:
            from mediapipe.python.solutions import selfie_segmentation
        except ImportError as err:
            raise UserError("person segmentation needs mediapipe==0.10.21 (pip install "
                            "mediapipe==0.10.21 --no-deps); use mask mode 'box'") from err
        from emoscope.faces.detectors.mediapipe_detector import quiet_native_stderr

        self._quiet = quiet_native_stderr
        with quiet_native_stderr():
            self._model = selfie_segmentation.SelfieSegmentation(model_selection=model_selection)

    def probabilities(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W) float32 person probabilities in [0, 1]."""
        with self._quiet():
            result = self._model.process(np.ascontiguousarray(rgb))
        mask = result.segmentation_mask
        if mask is None:
            return np.zeros(rgb.shape[:2], np.float32)
        return np.asarray(mask, np.float32)

    def close(self) -> None:
        self._model.close()


def segmentation_available() -> bool:
    """Whether ``PersonSegmenter`` can be built here."""
    try:
        from mediapipe.python.solutions import selfie_segmentation  # noqa: F401
    except ImportError:
        return False
    return True


def mask_subject(rgb: np.ndarray, box: Sequence[float] | None,
                 segmenter: PersonSegmenter | None = None, threshold: float = 0.5,
                 min_share: float = 0.05) -> tuple[np.ndarray, str]:
    """The scene with the subject set to 0, and how it was masked (``box``, ``segmentation``
    or ``none`` when there is no box). With a segmenter, the person pixels inside the box are
    zeroed; when they cover less than ``min_share`` of the box (nobody found there), the whole
    box is, so the subject never leaks into the context input."""
    if box is None:
        return rgb.copy(), "none"
    if segmenter is None:
        return zero_box(rgb, box), "box"
    x1, y1, x2, y2 = box_bounds(box, rgb.shape[1], rgb.shape[0])
    person = segmenter.probabilities(rgb)[y1:y2, x1:x2] > threshold
    if person.size == 0 or person.mean() < min_share:
        return zero_box(rgb, box), "box"
    out = rgb.copy()
    region = out[y1:y2, x1:x2]
    region[person] = 0
    return out, "segmentation"


def build_segmenter(mode: str) -> PersonSegmenter | None:
    """The segmenter a mask mode needs: none for ``box``; ``auto`` uses one when available."""
    if mode not in MASK_MODES:
        raise UserError(f"unknown subject mask mode '{mode}'; known: {', '.join(MASK_MODES)}")
    if mode == "box":
        return None
    if mode == "auto" and not segmentation_available():
        log.info("no person segmentation available: masking the subject box")
        return None
    return PersonSegmenter()
