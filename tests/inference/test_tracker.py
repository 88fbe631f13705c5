"""Tracker with synthetic boxes: stable ids, crossing faces, re-identification after a gap."""

from __future__ import annotations

import numpy as np

from emoscope.inference.tracker import FaceTracker, iou_matrix


def box(cx, cy, size=40):
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


def test_ids_are_stable_for_moving_faces():
    tracker = FaceTracker()
    for t in range(30):
        ids = tracker.update([box(50 + 3 * t, 100), box(300, 80 + 2 * t)], time_s=t / 30)
        assert ids == [0, 1]


def test_order_of_detections_does_not_matter():
    tracker = FaceTracker()
    tracker.update([box(50, 50), box(200, 50)], 0.0)
    assert tracker.update([box(202, 50), box(52, 50)], 0.04) == [1, 0]


def test_two_crossing_faces_keep_their_ids():
    tracker = FaceTracker()
    for t in range(40):
        a = box(40 + 8 * t, 100)  # left to right
        b = box(360 - 8 * t, 104)  # right to left, crossing at t = 20
        ids = tracker.update([a, b], time_s=t * 0.04)
        assert ids == [0, 1], f"swap at step {t}"


def test_reidentification_after_short_occlusion():
    tracker = FaceTracker(max_lost=10)
    for t in range(10):
        tracker.update([box(100 + 5 * t, 100)], t * 0.04)
    for t in range(10, 15):  # hidden for 5 frames
        assert tracker.update([], t * 0.04) == []
    # reappears where constant velocity predicts it
    assert tracker.update([box(100 + 5 * 15, 100)], 15 * 0.04) == [0]


def test_new_id_after_long_absence_or_far_away():
    tracker = FaceTracker(max_lost=3)
    tracker.update([box(100, 100)], 0.0)
    for t in range(1, 6):
        tracker.update([], t * 0.04)
    assert tracker.update([box(100, 100)], 0.3) == [1]
    assert tracker.update([box(100, 100), box(400, 400)], 0.34) == [1, 2]


def test_fast_motion_without_overlap_is_matched_by_distance():
    tracker = FaceTracker()
    tracker.update([box(100, 100)], 0.0)
    assert tracker.update([box(120, 100)], 0.04) == [0]  # IoU ~0.33
    assert tracker.update([box(150, 100)], 0.08) == [0]  # no overlap with last box


def test_variable_time_steps_and_frame_counter():
    tracker = FaceTracker()
    assert tracker.update([box(10, 10)]) == [0]
    assert tracker.update([box(12, 10)]) == [0]
    tracker.reset()
    assert tracker.update([box(300, 300)], 5.0) == [0]


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10], [0, 0, 5, 5]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
    expected = [[1.0, 50 / 150, 0.0], [0.25, 0.0, 0.0]]
    assert np.allclose(iou_matrix(a, b), expected)
    assert iou_matrix(a, np.zeros((0, 4))).shape == (2, 0)
