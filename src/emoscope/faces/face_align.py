"""Turning tilted faces upright before classification, from the detector's keypoints.

Face models here learn from registered crops (FER2013's 48x48 faces are upright, with the eyes
at fixed places), while heads in real media tilt. A face whose eye line tilts by at least
``ALIGN_MIN_DEGREES`` is mapped by the similarity transform (rotation, scale, shift) that
puts its eyes, nose tip and mouth centre closest to where FER2013 crops have them
(``FER2013_TEMPLATE``); faces closer to upright keep the plain box crop.

The template is the median keypoint layout that MediaPipe's detector finds on 1,430 FER2013
Training faces (enlarged 2x in a reflected canvas), in units of the crop's side; labels played
no part. ``benchmarks/bench_alignment.py`` measures what alignment changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emoscope.faces.detectors.base import FaceBox

# Three in four FER2013 Training faces show an eye line within 10 degrees of level (MediaPipe
# keypoints on 2,869 of them: median 5.2, 75th percentile 10.0): tilts the model learned from.
ALIGN_MIN_DEGREES = 10.0
# (x, y) of the image-left eye, image-right eye, nose tip and mouth centre of an upright face
FER2013_TEMPLATE = ((0.319, 0.389), (0.691, 0.394), (0.507, 0.599), (0.500, 0.776))


def face_keypoints(box: FaceBox) -> np.ndarray | None:
    """``(4, 2)``: the eyes (image-left one first when upright), nose tip and mouth centre.

    MediaPipe gives six keypoints (eyes, nose, mouth centre, ears), MTCNN five (eyes, nose,
    mouth corners); other detectors none (None).
    """
    marks = np.asarray(box.landmarks or (), dtype=np.float64)
    if len(marks) == 6:
        return marks[:4]
    if len(marks) == 5:
        return np.vstack([marks[:3], marks[3:5].mean(0)])
    return None


def eye_line_degrees(points: np.ndarray) -> float:
    """Angle of the eye line in the image, clockwise > 0."""
    (x0, y0), (x1, y1) = points[0], points[1]
    return float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))


def aligned_face(rgb: np.ndarray, box: FaceBox, size: int,
                 template: Sequence[Sequence[float]] = FER2013_TEMPLATE) -> np.ndarray | None:
    """The face turned upright into a ``size`` x ``size`` crop framed as ``template`` says, or
    None when it needs no turn (tilt under ``ALIGN_MIN_DEGREES``) or has no keypoints."""
    import cv2

    points = face_keypoints(box)
    if points is None or abs(eye_line_degrees(points)) < ALIGN_MIN_DEGREES:
        return None
    target = np.asarray(template, dtype=np.float32) * size
    matrix, _ = cv2.estimateAffinePartial2D(points.astype(np.float32), target)
    if matrix is None:
        return None
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
