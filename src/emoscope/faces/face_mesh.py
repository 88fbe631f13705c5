"""Face landmarks (MediaPipe's face mesh) and the head pose they imply.

The mesh runs on each detected face box, grown by a margin, and returns 468 points (478 with
the refined iris points) as ``(x, y, z)``: x and y in pixels of the frame, z the mesh's
relative depth in the same units as x (smaller is closer to the camera).

Head pose is read from the rigid parts of the mesh, so that expressions (an open mouth, raised
brows) do not move it:

* the face's left-right axis is the mean of the vectors between mirror-image landmarks
  (eye corners, cheek contour, jaw, brows);
* its forward axis is the line from the cheek contour at ear height (points 234 and 454) to
  the lower eyelids (145 and 374), a stand-in for the Frankfurt plane (ear to lower eye rim)
  that anatomists use as the horizontal of an upright head. These mesh points sit about
  ``EYE_CHEEK_TILT_DEG`` above and below it on upright, camera-facing portraits, so that
  angle is taken off, making pitch 0 for a face looking straight at the camera.

Angles (degrees) follow the camera's view: ``yaw`` > 0 when the face turns towards the right
of the image (the person's left), ``pitch`` > 0 when it looks up, ``roll`` > 0 when the head
tilts clockwise in the image. They are the intrinsic z-y-x Euler angles of the face's axes
(``R = Rz(roll) Ry(yaw) Rx(pitch)``), so rotating the image changes only ``roll``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emoscope.faces.detectors.base import FaceBox

MESH_POINTS = 468
REFINED_MESH_POINTS = 478  # with the 10 iris points of refine_landmarks
POSE_COLUMNS = ("yaw", "pitch", "roll")
# Mirror-image pairs (the person's right side first, the image's left for a frontal face):
# outer and inner eye corners, mouth-free cheek and jaw contour, brows.
MIRROR_PAIRS = ((33, 263), (133, 362), (234, 454), (127, 356), (93, 323), (58, 288),
                (172, 397), (70, 300), (105, 334))
_RIGHT_SIDE = [right for right, _ in MIRROR_PAIRS]
_LEFT_SIDE = [left for _, left in MIRROR_PAIRS]
EAR_CHEEK = (234, 454)
LOWER_EYELIDS = (145, 374)
# Mean angle of the cheek-to-eyelid line above the horizontal on five upright adult portraits
# facing the camera (9.6-14.0 degrees; see docs/research/face-expression.md, Head pose).
EYE_CHEEK_TILT_DEG = 11.6


def grow_box(box: Sequence[float], share: float, width: int, height: int) -> tuple[int, ...]:
    """``(x1, y1, x2, y2)`` grown by ``share`` of its size on every side, clipped to the image."""
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * share, (y2 - y1) * share
    return (max(int(x1 - dx), 0), max(int(y1 - dy), 0), min(int(np.ceil(x2 + dx)), width),
            min(int(np.ceil(y2 + dy)), height))


class FaceMesh:
    """MediaPipe's legacy face mesh on still images (every call detects afresh)."""

    def __init__(self, refine: bool = False, max_faces: int = 3, min_confidence: float = 0.3):
        from mediapipe.python.solutions import face_mesh

        from emoscope.faces.detectors.mediapipe_detector import quiet_native_stderr

        self._quiet = quiet_native_stderr
        self.points = REFINED_MESH_POINTS if refine else MESH_POINTS
        with quiet_native_stderr():
            self._mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=max_faces,
                                            refine_landmarks=refine,
                                            min_detection_confidence=min_confidence)
            # the graph's models load, and greet on stderr, at their first frame: take it here
            self._mesh.process(np.zeros((64, 64, 3), np.uint8))

    def landmarks(self, rgb: np.ndarray) -> list[np.ndarray]:
        """One ``(points, 3)`` array of ``(x, y, z)`` pixels per face found in ``rgb``."""
        with self._quiet():  # its sub-graphs greet on stderr the first time each one runs
            result = self._mesh.process(np.ascontiguousarray(rgb))
        height, width = rgb.shape[:2]
        scale = np.array([width, height, width], np.float64)
        return [np.array([(p.x, p.y, p.z) for p in face.landmark], np.float64) * scale
                for face in result.multi_face_landmarks or []]

    def landmarks_in_box(self, rgb: np.ndarray, box: Sequence[float],
                         margin: float = 0.4) -> np.ndarray | None:
        """The mesh of the face in ``box`` (the one nearest its centre when the grown box holds
        several), in pixels of ``rgb``; None when the mesh finds no face there."""
        height, width = rgb.shape[:2]
        x1, y1, x2, y2 = grow_box(box, margin, width, height)
        if x2 - x1 < 8 or y2 - y1 < 8:
            return None
        faces = self.landmarks(rgb[y1:y2, x1:x2])
        if not faces:
            return None
        centre = np.array([(box[0] + box[2]) / 2 - x1, (box[1] + box[3]) / 2 - y1])
        points = min(faces, key=lambda p: float(np.linalg.norm(p[:, :2].mean(0) - centre)))
        return points + np.array([x1, y1, 0.0])

    def close(self) -> None:
        self._mesh.close()


def face_axes(points: np.ndarray) -> np.ndarray:
    """3x3 rotation whose columns are the face's left-right (towards the person's left), down
    and backward axes in camera coordinates (x right, y down, z away from the camera)."""
    across = (points[_LEFT_SIDE] - points[_RIGHT_SIDE]).mean(0)
    x = across / np.linalg.norm(across)
    forward = points[list(LOWER_EYELIDS)].mean(0) - points[list(EAR_CHEEK)].mean(0)
    backward = -forward - x * np.dot(-forward, x)
    z = backward / np.linalg.norm(backward)
    # The cheek-to-eyelid line rises above the head's horizontal: turn it down by that angle.
    tilt = np.radians(EYE_CHEEK_TILT_DEG)
    y = np.cross(z, x)
    z = np.cos(tilt) * z - np.sin(tilt) * y
    return np.stack([x, np.cross(z, x), z], axis=1)


def euler_from_axes(axes: np.ndarray) -> tuple[float, float, float]:
    """``(yaw, pitch, roll)`` in degrees, with the signs of the module docstring."""
    pitch_down = np.arctan2(axes[2, 1], axes[2, 2])
    turn_image_left = np.arcsin(np.clip(-axes[2, 0], -1.0, 1.0))
    clockwise = np.arctan2(axes[1, 0], axes[0, 0])
    return (float(np.degrees(-turn_image_left)), float(np.degrees(-pitch_down)),
            float(np.degrees(clockwise)))


def head_pose(points: np.ndarray) -> tuple[float, float, float]:
    """``(yaw, pitch, roll)`` in degrees of a face mesh ``(points, 3)``."""
    return euler_from_axes(face_axes(points))


class FaceGeometry:
    """Per-face mesh and head pose for the analysis pipeline."""

    def __init__(self, landmarks: bool = False, margins: Sequence[float] = (0.25, 0.5)):
        self.mesh = FaceMesh(refine=False, max_faces=2)
        self.keep_landmarks = landmarks
        self.margins = tuple(margins)  # the mesh's own detector misses a face now and then at
        # one framing and finds it at another: a miss is retried with the next margin

    def measure(self, rgb: np.ndarray, boxes: Sequence[FaceBox]
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(n, 3)`` yaw/pitch/roll (NaN where the mesh finds no face in a box) and, when
        landmarks are kept, ``(n, 468, 2)`` x/y pixels (NaN likewise)."""
        poses = np.full((len(boxes), 3), np.nan)
        marks = np.full((len(boxes), MESH_POINTS, 2), np.nan) if self.keep_landmarks else None
        for i, box in enumerate(boxes):
            points = None
            for margin in self.margins:
                points = self.mesh.landmarks_in_box(rgb, (box.x1, box.y1, box.x2, box.y2),
                                                    margin)
                if points is not None:
                    break
            if points is None:
                continue
            poses[i] = head_pose(points)
            if marks is not None:
                marks[i] = points[:MESH_POINTS, :2]
        return poses, marks

    def close(self) -> None:
        self.mesh.close()
