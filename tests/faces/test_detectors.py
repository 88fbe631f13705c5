"""Detectors on known answers: the astronaut photo has exactly one face at a known place."""

from __future__ import annotations

import numpy as np
import pytest

from emoscope.errors import UserError
from emoscope.faces.detectors import FaceBox, FaceDetector, build_detector
from emoscope.faces.detectors.base import box_iou, suppress_overlaps
from emoscope.inference.demo import ASTRONAUT_FACE
from emoscope.registry import DETECTORS

KNOWN = FaceBox(*ASTRONAUT_FACE)


@pytest.fixture(scope="module")
def mediapipe():
    with build_detector("mediapipe") as detector:
        yield detector


@pytest.mark.parametrize("name", ["mediapipe", "opencv"])
def test_one_face_at_known_place(name, astronaut_rgb):
    with build_detector(name) as detector:
        boxes = detector.detect(astronaut_rgb)
    assert len(boxes) == 1
    assert box_iou(boxes[0], KNOWN) > 0.6
    assert 0.5 <= boxes[0].score <= 1.0


def test_mediapipe_landmarks_and_models(astronaut_rgb):
    for model in ("short", "full"):
        with build_detector("mediapipe", model=model) as detector:
            (box,) = detector.detect(astronaut_rgb)
        assert box_iou(box, KNOWN) > 0.6
        assert len(box.landmarks) == 6  # eyes, nose, mouth, ears
        x, y = box.landmarks[0]
        assert box.x1 <= x <= box.x2 and box.y1 <= y <= box.y2


def test_face_found_after_crop_and_rotation(mediapipe, astronaut_rgb):
    crop = np.ascontiguousarray(astronaut_rgb[40:300, 100:360])
    (box,) = mediapipe.detect(crop)
    assert box_iou(box, FaceBox(KNOWN.x1 - 100, KNOWN.y1 - 40, KNOWN.x2 - 100, KNOWN.y2 - 40)) > 0.6
    rotated = np.ascontiguousarray(np.rot90(astronaut_rgb, k=-1))  # 90 degrees clockwise
    with build_detector("mediapipe", model="full") as detector:
        assert len(detector.detect(rotated)) <= 1  # no phantom faces on a rotated photo


def test_no_face_in_blank_image(mediapipe):
    assert mediapipe.detect(np.full((240, 320, 3), 128, np.uint8)) == []


def test_boxes_are_clipped_to_the_image(mediapipe, astronaut_rgb):
    edge = np.ascontiguousarray(astronaut_rgb[100:400, 200:500])  # face cut at the left edge
    for box in mediapipe.detect(edge):
        assert 0 <= box.x1 <= box.x2 <= 300 and 0 <= box.y1 <= box.y2 <= 300


def test_threshold_min_face_and_max_faces(astronaut_rgb):
    two = np.ascontiguousarray(np.concatenate([astronaut_rgb, astronaut_rgb[:, ::-1]], axis=1))
    with build_detector("mediapipe") as detector:
        assert len(detector.detect(two)) == 2
    with build_detector("mediapipe", max_faces=1) as detector:
        assert len(detector.detect(two)) == 1
    with build_detector("mediapipe", min_face=150) as detector:
        assert detector.detect(two) == []
    with build_detector("mediapipe", threshold=0.999) as detector:
        assert detector.detect(two) == []


def test_large_frames_are_detected_at_reduced_size(astronaut_rgb):
    import cv2

    big = cv2.resize(astronaut_rgb, (2560, 2560), interpolation=cv2.INTER_LINEAR)
    with build_detector("mediapipe") as detector:
        (box,) = detector.detect(big)
    scaled = FaceBox(*(v * 5 for v in ASTRONAUT_FACE))
    assert box_iou(box, scaled) > 0.6


def test_filter_and_nms():
    boxes = [FaceBox(0, 0, 10, 10, 0.9), FaceBox(1, 1, 11, 11, 0.8), FaceBox(50, 50, 60, 60, 0.7)]
    assert suppress_overlaps(boxes) == [boxes[0], boxes[2]]
    clipped = FaceBox(-5, -5, 20, 30, 0.9).clip(15, 25)
    assert (clipped.x1, clipped.y1, clipped.x2, clipped.y2) == (0, 0, 15, 25)


def test_registry_and_errors():
    assert {"mediapipe", "opencv", "mtcnn"} <= set(DETECTORS.names())
    with pytest.raises(UserError, match="known detectors: mediapipe, mtcnn, opencv"):
        build_detector("nope")
    with pytest.raises(UserError, match="threshold"):
        build_detector("opencv", threshold=2.0)
    with pytest.raises(ValueError, match="uint8"):
        build_detector("opencv").detect(np.zeros((10, 10), np.float32))


def _has_facenet() -> bool:
    import importlib.util

    return importlib.util.find_spec("facenet_pytorch") is not None


@pytest.mark.skipif(_has_facenet(), reason="facenet-pytorch is installed")
def test_mtcnn_missing_dependency_is_a_clear_error():
    with pytest.raises(UserError, match="pip install --no-deps facenet-pytorch"):
        build_detector("mtcnn")


@pytest.mark.skipif(not _has_facenet(), reason="facenet-pytorch is not installed")
def test_mtcnn_finds_the_astronaut(astronaut_rgb):
    with build_detector("mtcnn") as detector:
        (box,) = detector.detect(astronaut_rgb)
    assert box_iou(box, KNOWN) > 0.6 and box.score > 0.9
    assert len(box.landmarks) == 5


def test_detector_settings_are_checked_by_name():
    with pytest.raises(UserError, match="max_side, min_face, model, threshold, "
                       "tile_threshold, tile_when_empty, tiles"):
        build_detector("mediapipe", colour=1)
    with build_detector("opencv", scale_factor=1.2, min_neighbors=3) as detector:
        assert detector.scale_factor == 1.2


def test_tiles_find_small_faces_in_large_images(astronaut_rgb):
    canvas = np.full((2048, 2048, 3), 128, np.uint8)
    canvas[900:1412, 1200:1712] = astronaut_rgb  # face ~100 px in a 2048 px image
    with build_detector("mediapipe", tiles=1) as detector:
        assert detector.detect(canvas) == []  # BlazeFace sees the frame at 192 px
    with build_detector("mediapipe") as detector:  # nothing in the whole frame: 2x2 tiles
        (box,) = detector.detect(canvas)
    assert 1200 <= box.center[0] <= 1712 and 900 <= box.center[1] <= 1412
    # tiles show the detector more background: a stricter threshold keeps false positives out
    with build_detector("mediapipe", tiles=3, threshold=0.6) as detector:
        (box,) = detector.detect(canvas)
    x1, y1, x2, y2 = ASTRONAUT_FACE
    assert box_iou(box, FaceBox(x1 + 1200, y1 + 900, x2 + 1200, y2 + 900)) > 0.6
    assert all(1200 <= x <= 1712 for x, _ in box.landmarks)


class _CountingDetector(FaceDetector):
    """Finds one face only in images at least 300 px wide (the whole frame, not a tile)."""

    def __init__(self, **options: object):
        super().__init__(**options)
        self.calls = 0

    def _detect(self, rgb: np.ndarray, min_face: float) -> list[FaceBox]:
        self.calls += 1
        return [FaceBox(10, 10, 60, 60, 0.9)] if rgb.shape[1] >= 300 else []


def test_tile_when_empty_tiles_only_frames_without_faces(astronaut_rgb):
    detector = _CountingDetector(tiles=2, tile_when_empty=True)
    assert len(detector.detect(np.zeros((240, 320, 3), np.uint8))) == 1
    assert detector.calls == 1  # a face in the whole frame: no tiles
    detector.calls = 0
    assert detector.detect(np.zeros((240, 200, 3), np.uint8)) == []
    assert detector.calls == 1 + 4  # nothing found: the 2x2 tiles too
    always = _CountingDetector(tiles=2)
    always.detect(np.zeros((240, 320, 3), np.uint8))
    assert always.calls == 5
    canvas = np.full((2048, 2048, 3), 128, np.uint8)
    canvas[900:1412, 1200:1712] = astronaut_rgb
    with build_detector("mediapipe", tiles=3, threshold=0.6, tile_when_empty=True) as mediapipe:
        (box,) = mediapipe.detect(canvas)
    assert 1200 <= box.center[0] <= 1712


class _TileOnlyDetector(FaceDetector):
    """A 0.6-confidence face that only the tiles (narrower than 300 px) show."""

    def _detect(self, rgb: np.ndarray, min_face: float) -> list[FaceBox]:
        return [FaceBox(10, 10, 60, 60, 0.6)] if rgb.shape[1] < 300 else []


def test_tile_threshold_holds_tile_boxes_to_a_higher_confidence():
    frame = np.zeros((240, 320, 3), np.uint8)
    assert len(_TileOnlyDetector(tiles=2).detect(frame)) == 4  # one per tile
    assert _TileOnlyDetector(tiles=2, tile_threshold=0.7).detect(frame) == []
    assert len(_TileOnlyDetector(tiles=2, tile_threshold=0.55).detect(frame)) == 4
    with pytest.raises(UserError, match="tile threshold must be in"):
        _TileOnlyDetector(tile_threshold=1.5)
