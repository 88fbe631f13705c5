"""Alignment of tilted faces: keypoints of both keypoint detectors, the eye-line angle, the
threshold, and a rotated photo coming out upright and framed like an upright one."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

import emoscope
from emoscope.faces.detectors import build_detector
from emoscope.faces.detectors.base import FaceBox
from emoscope.faces.face_align import (
    ALIGN_MIN_DEGREES,
    FER2013_TEMPLATE,
    aligned_face,
    eye_line_degrees,
    face_keypoints,
)


def test_keypoints_of_mediapipe_mtcnn_and_none():
    six = ((10, 20), (30, 20), (20, 30), (20, 40), (0, 22), (40, 22))
    five = ((10, 20), (30, 20), (20, 30), (14, 40), (26, 42))
    assert face_keypoints(FaceBox(0, 0, 40, 50, 0.9, six)).tolist() == \
        [[10, 20], [30, 20], [20, 30], [20, 40]]
    assert face_keypoints(FaceBox(0, 0, 40, 50, 0.9, five))[3].tolist() == [20, 41]
    assert face_keypoints(FaceBox(0, 0, 40, 50, 0.9)) is None


def test_eye_line_angle_is_clockwise_positive():
    assert eye_line_degrees(np.array([[0, 0], [10, 0]])) == 0
    assert eye_line_degrees(np.array([[0, 0], [10, 10]])) == pytest.approx(45)  # y grows down
    assert eye_line_degrees(np.array([[0, 0], [10, -10]])) == pytest.approx(-45)


def _box_with(points: np.ndarray) -> FaceBox:
    marks = tuple(map(tuple, points)) + ((0.0, 0.0), (1.0, 1.0))  # ears: unused
    return FaceBox(0, 0, 100, 100, 0.9, marks)


def test_near_upright_faces_are_left_to_the_box_crop():
    upright = np.array(FER2013_TEMPLATE) * 100
    assert aligned_face(np.zeros((100, 100, 3), np.uint8), _box_with(upright), 100) is None
    turn = cv2.getRotationMatrix2D((50, 50), -(ALIGN_MIN_DEGREES - 1), 1.0)
    slight = upright @ turn[:, :2].T + turn[:, 2]
    assert aligned_face(np.zeros((100, 100, 3), np.uint8), _box_with(slight), 100) is None


def test_keypoints_land_on_the_template():
    """A synthetic image with dots at tilted keypoints: after alignment the dots sit where the
    template puts them."""
    template = np.array(FER2013_TEMPLATE) * 96
    turn = cv2.getRotationMatrix2D((48, 48), 35, 1.5)  # counter-clockwise, enlarged
    turn[:, 2] += (60, 40)
    points = template @ turn[:, :2].T + turn[:, 2]
    image = np.zeros((260, 260, 3), np.uint8)
    for x, y in points:
        cv2.circle(image, (int(round(x)), int(round(y))), 3, (255, 255, 255), -1)
    crop = aligned_face(image, _box_with(points), 96)
    assert crop is not None and crop.shape == (96, 96, 3)
    for x, y in template:
        row, col = int(round(y)), int(round(x))
        assert crop[row - 1:row + 2, col - 1:col + 2, 0].mean() > 200  # the dot is there


def test_rotated_photo_is_classified_like_the_upright_one(astronaut_rgb):
    """The shipped model on the astronaut turned by 40 degrees: aligned, its probabilities are
    closer to those of the upright photo than without alignment."""
    turn = cv2.getRotationMatrix2D((226, 124), 40, 1.0)
    tilted = cv2.warpAffine(astronaut_rgb, turn, (512, 512), borderMode=cv2.BORDER_REFLECT)
    with build_detector("mediapipe") as detector:
        box = max(detector.detect(tilted), key=lambda b: b.score)
    assert eye_line_degrees(face_keypoints(box)) < -20  # the detector sees the tilt
    upright = emoscope.analyze(astronaut_rgb)
    aligned = emoscope.analyze(tilted)
    plain = emoscope.analyze(tilted, align=False)
    columns = [c for c in upright.columns if c.startswith("p_")]

    def distance(table: pd.DataFrame) -> float:
        return float(np.abs(table[columns].to_numpy() - upright[columns].to_numpy()).sum())

    assert distance(aligned) < distance(plain)
    assert aligned["top_label"].iloc[0] == upright["top_label"].iloc[0]
    # the box and everything but the probabilities stay as detected
    assert aligned[["x1", "y1", "x2", "y2"]].equals(plain[["x1", "y1", "x2", "y2"]])
