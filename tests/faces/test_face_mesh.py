"""Head pose and landmarks from the face mesh: the angle maths on a synthetic head with known
rotations, the mesh on the astronaut photo (rotated and mirrored), and the table columns of
``analyze --pose / --landmarks``."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import emoscope
from cli_runner import run_cli
from emoscope.faces.detectors.base import FaceBox
from emoscope.faces.face_mesh import (
    EAR_CHEEK,
    EYE_CHEEK_TILT_DEG,
    LOWER_EYELIDS,
    MESH_POINTS,
    MIRROR_PAIRS,
    FaceGeometry,
    FaceMesh,
    head_pose,
)
from emoscope.inference.summary import TrackSummary

NOSE_TIP, LEFT_EYE = 1, 263  # the person's left eye: the image's right on a frontal face


def upright_head() -> np.ndarray:
    """468 points of an upright head facing the camera (x right, y down, z away), with the
    cheek-to-eyelid line rising by ``EYE_CHEEK_TILT_DEG`` as on real faces."""
    points = np.zeros((MESH_POINTS, 3))
    for k, (right, left) in enumerate(MIRROR_PAIRS):
        points[right] = (-30 - 4 * k, 10 - 5 * k, 10)
        points[left] = (30 + 4 * k, 10 - 5 * k, 10)
    points[list(EAR_CHEEK)] = [(-70, 0, 40), (70, 0, 40)]
    rise = 60 * math.tan(math.radians(EYE_CHEEK_TILT_DEG))
    points[list(LOWER_EYELIDS)] = [(-30, -rise, -20), (30, -rise, -20)]
    points[NOSE_TIP] = (0, 5, -50)
    return points


def rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return {"x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def test_upright_head_has_zero_pose():
    assert head_pose(upright_head()) == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_single_turns_are_recovered_with_the_documented_signs(axis):
    head = upright_head()
    for degrees in (-40, -10, 25):
        turned = head @ rotation(axis, degrees).T
        yaw, pitch, roll = head_pose(turned)
        nose, eye = turned[NOSE_TIP], turned[LEFT_EYE]
        if axis == "y":  # about the vertical: the nose moves sideways
            assert (abs(yaw), pitch, roll) == pytest.approx((abs(degrees), 0, 0), abs=1e-6)
            assert np.sign(yaw) == np.sign(nose[0])  # > 0: the face turns to the image's right
        elif axis == "x":  # about the ear-to-ear axis: the nose moves up or down
            assert (yaw, abs(pitch), roll) == pytest.approx((0, abs(degrees), 0), abs=1e-6)
            assert np.sign(pitch) == -np.sign(nose[1] - head[NOSE_TIP][1])  # > 0: looks up
        else:  # in the image plane
            assert (yaw, pitch, roll) == pytest.approx((0, 0, degrees), abs=1e-6)
            assert np.sign(roll) == np.sign(eye[1] - head[LEFT_EYE][1])  # > 0: clockwise


def test_combined_rotation_is_recovered_and_independent_of_translation_and_scale():
    head = upright_head()
    combined = rotation("z", 15) @ rotation("y", -30) @ rotation("x", 20)
    moved = 2.5 * head @ combined.T + np.array([300.0, 200.0, 5.0])
    yaw, pitch, roll = head_pose(moved)
    assert (yaw, pitch, roll) == pytest.approx((30.0, -20.0, 15.0), abs=1e-6)


@pytest.fixture(scope="module")
def mesh():
    mesh = FaceMesh(max_faces=1)
    yield mesh
    mesh.close()


def _pose(mesh: FaceMesh, rgb: np.ndarray) -> np.ndarray:
    faces = mesh.landmarks(rgb)
    assert len(faces) == 1 and faces[0].shape == (MESH_POINTS, 3)
    return np.array(head_pose(faces[0]))


def test_astronaut_portrait_faces_the_camera(mesh, astronaut_rgb):
    yaw, pitch, roll = _pose(mesh, astronaut_rgb)
    assert abs(yaw) < 5 and abs(pitch) < 5 and abs(roll) < 6


@pytest.mark.parametrize("degrees", [-25, 20])
def test_rotating_the_image_changes_roll_alone(mesh, astronaut_rgb, degrees):
    base = _pose(mesh, astronaut_rgb)
    turn = cv2.getRotationMatrix2D((226, 124), degrees, 1.0)  # counter-clockwise for > 0
    turned = cv2.warpAffine(astronaut_rgb, turn, (512, 512), borderMode=cv2.BORDER_REFLECT)
    change = _pose(mesh, turned) - base
    assert change[2] == pytest.approx(-degrees, abs=4)
    assert abs(change[0]) < 4 and abs(change[1]) < 4


def test_mirror_image_flips_yaw_and_roll(mesh, astronaut_rgb):
    turn = cv2.getRotationMatrix2D((226, 124), 20, 1.0)
    tilted = cv2.warpAffine(astronaut_rgb, turn, (512, 512), borderMode=cv2.BORDER_REFLECT)
    pose = _pose(mesh, tilted)
    mirrored = _pose(mesh, np.ascontiguousarray(tilted[:, ::-1]))
    assert mirrored[0] == pytest.approx(-pose[0], abs=3)
    assert mirrored[2] == pytest.approx(-pose[2], abs=3) and abs(pose[2]) > 12
    assert mirrored[1] == pytest.approx(pose[1], abs=3)


@pytest.mark.shared_data
def test_turned_and_lowered_heads_in_a_real_group_photo(shared_data, mesh):
    """group.jpeg (Pexels): the woman on the left turns to the image's right, the man on the
    right to its left, the man in the middle looks down at a laptop (checked by eye)."""
    rgb = np.asarray(Image.open(shared_data / "demo-media" / "group.jpeg").convert("RGB"))
    geometry = FaceGeometry()
    boxes = [FaceBox(179, 272, 325, 418, 0.9), FaceBox(933, 311, 1068, 446, 0.9),
             FaceBox(569, 19, 774, 225, 0.9)]
    (left_woman, right_man, middle_man), _ = geometry.measure(rgb, boxes)
    geometry.close()
    assert left_woman[0] > 20 and right_man[0] < -15
    assert middle_man[1] < -20 and abs(left_woman[1]) < 10


def test_geometry_gives_nan_where_the_mesh_finds_no_face(astronaut_rgb):
    geometry = FaceGeometry(landmarks=True)
    blank = np.full((200, 200, 3), 128, np.uint8)
    poses, marks = geometry.measure(blank, [FaceBox(50, 50, 150, 150, 0.9)])
    assert poses.shape == (1, 3) and np.isnan(poses).all()
    assert marks.shape == (1, MESH_POINTS, 2) and np.isnan(marks).all()
    poses, _ = geometry.measure(astronaut_rgb, [FaceBox(177, 70, 275, 178, 0.9),
                                                FaceBox(0, 400, 60, 460, 0.9)])
    assert np.isfinite(poses[0]).all() and np.isnan(poses[1]).all()
    geometry.close()


def test_analyze_adds_pose_and_landmark_columns(astronaut_rgb, tiny_model_path):
    plain = emoscope.analyze(astronaut_rgb, model=str(tiny_model_path))
    table = emoscope.analyze(astronaut_rgb, model=str(tiny_model_path), landmarks=True)
    assert "yaw" not in plain.columns
    assert len(table.columns) == len(plain.columns) + 3 + 2 * MESH_POINTS
    row = table.iloc[0]
    assert abs(row["yaw"]) < 5 and abs(row["pitch"]) < 5
    xs = row[[f"lm_x_{k}" for k in range(MESH_POINTS)]].to_numpy(float)
    ys = row[[f"lm_y_{k}" for k in range(MESH_POINTS)]].to_numpy(float)
    nose = xs[NOSE_TIP], ys[NOSE_TIP]
    assert row["x1"] < nose[0] < row["x2"] and row["y1"] < nose[1] < row["y2"]
    assert xs[LEFT_EYE] > xs[33]  # the person's left eye is on the image's right
    pd.testing.assert_frame_equal(table[plain.columns], plain)  # the rest is unchanged


def test_cli_pose_columns_and_annotation(monkeypatch, capsys, tmp_path, astronaut_rgb,
                                         tiny_model_path):
    Image.fromarray(astronaut_rgb).save(tmp_path / "face.png")
    code, out, _ = run_cli(monkeypatch, capsys, "analyze", tmp_path / "face.png", "--pose",
                           "--annotate", "--no-plots", "--model", tiny_model_path,
                           "--out", tmp_path / "out")
    assert code == 0, out
    table = pd.read_csv(tmp_path / "out" / "face.csv")
    assert list(table.columns[-3:]) == ["yaw", "pitch", "roll"]
    assert np.isfinite(table[["yaw", "pitch", "roll"]].to_numpy()).all()
    assert (tmp_path / "out" / "face_annotated.png").exists()
    tracks = pd.read_csv(tmp_path / "out" / "face_tracks.csv")
    assert tracks[["mean_yaw", "mean_pitch", "mean_roll"]].to_numpy() == pytest.approx(
        table[["yaw", "pitch", "roll"]].to_numpy(), abs=0.01)


def test_track_summary_averages_pose_over_frames_with_a_mesh():
    summary = TrackSummary(["a", "b"], head_pose=True)
    for frame, pose in enumerate([(10, -4, 2), (np.nan,) * 3, (20, 0, 4)]):
        summary.add("v", 0, frame, frame / 10, 0.9, np.array([0.7, 0.3]),
                    head_pose=np.array(pose, float))
    summary.add("v", 1, 0, 0.0, 0.9, np.array([0.2, 0.8]), head_pose=np.full(3, np.nan))
    table = summary.table().set_index("track_id")
    assert table.loc[0, ["mean_yaw", "mean_pitch", "mean_roll"]].tolist() == [15, -2, 3]
    assert table.loc[0, "frames"] == 3
    assert table.loc[1, ["mean_yaw", "mean_pitch", "mean_roll"]].isna().all()
    assert "mean_yaw" not in TrackSummary(["a", "b"]).table().columns
