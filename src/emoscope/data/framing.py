"""Set a registered face crop into a larger, camera-like frame (seeded, reproducible).

Users never meet FER2013's registered 48x48 crops: they meet a detector's box cut out of a
photo or a video frame. :func:`frame_face` builds such a frame around one face so the whole
pipeline (detector, alignment, crop, classifier) can be measured, and so training can see the
crops the pipeline cuts. The variation of face ``index`` under ``seed`` is a pure function of
``(seed, index)``: the same pair always gives the same frame, whatever order faces are framed
in. Only numpy and OpenCV are used.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BORDERS = ("reflect", "replicate", "constant", "noise")
DEFAULT_FRAME_SIZE = (240, 320)  # (height, width): QVGA, a small webcam frame

_CV_BORDERS = {"reflect": cv2.BORDER_REFLECT_101, "replicate": cv2.BORDER_REPLICATE}


@dataclass(frozen=True)
class FramingParams:
    """The drawn variation for one face (see :func:`framing_params` for the distribution)."""

    scale: float  # face side in the frame / face side in the input
    tilt: float  # degrees, counter-clockwise in the image
    center: tuple[float, float]  # (x, y) of the face centre in the frame, pixels
    border: str  # one of BORDERS
    colour: tuple[int, int, int]  # plain colour for "constant"; base colour for "noise"
    noise_sigma: float  # std of additive Gaussian noise, grey levels
    frame_size: tuple[int, int]  # (height, width)


@dataclass(frozen=True)
class FramedFace:
    """A camera-like RGB frame and where the face was put in it."""

    frame: np.ndarray  # (H, W, 3) uint8 RGB
    box: tuple[float, float, float, float]  # (x0, y0, x1, y1) of the face square, untilted
    params: FramingParams

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)


def framing_params(seed: int, index: int, face_side: int = 48,
                   frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE) -> FramingParams:
    """Draw the variation for face ``index`` under ``seed``.

    Distribution (all independent, uniform unless stated):
    - ``scale`` in [2, 3]: a 48 px face becomes 96-144 px wide (bilinear enlargement);
    - ``tilt`` in [-10, 10] degrees, about the face centre;
    - ``border``: reflect, replicate, constant or noise, each with probability 1/4. reflect
      and replicate extend the face's own pixels to the frame's edges (reflect shows mirrored
      parts of the face); constant is a plain colour; noise is a smooth colour texture;
    - ``colour``: each RGB channel in [0, 255] (integers);
    - ``center``: anywhere that keeps the whole tilted face inside the frame, so the face is
      usually off-centre;
    - ``noise_sigma`` in [0, 8] grey levels, Gaussian noise added to the whole frame.
    The frame is 240x320 (height x width) unless ``frame_size`` says otherwise; it must hold
    the largest tilted face (3x ``face_side`` turned by 10 degrees).
    """
    rng = np.random.default_rng([int(seed), int(index)])
    scale = float(rng.uniform(2.0, 3.0))
    tilt = float(rng.uniform(-10.0, 10.0))
    border = BORDERS[int(rng.integers(len(BORDERS)))]
    colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
    noise_sigma = float(rng.uniform(0.0, 8.0))
    height, width = frame_size
    half = _tilted_half_extent(face_side * 3.0, 10.0)
    if 2 * half > min(height, width):
        raise ValueError(f"frame {height}x{width} is too small for a {face_side} px face "
                         "enlarged 3x and tilted 10 degrees")
    reach = _tilted_half_extent(round(face_side * scale), tilt)
    center = (float(rng.uniform(reach, width - reach)), float(rng.uniform(reach, height - reach)))
    return FramingParams(scale, tilt, center, border, colour, noise_sigma, (height, width))


def frame_face(face: np.ndarray, seed: int, index: int,
               frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE) -> FramedFace:
    """Set ``face`` (a square grey (S, S) or RGB (S, S, 3) uint8 crop) into a camera-like frame.

    The variation is :func:`framing_params` ``(seed, index, S, frame_size)``. The returned box
    is the square the enlarged face covers before the tilt, centred where the face was put.
    """
    rgb = _as_rgb(face)
    params = framing_params(seed, index, rgb.shape[0], frame_size)
    return FramedFace(render_frame(rgb, params, seed, index), face_box(rgb.shape[0], params),
                      params)


def face_box(face_side: int, params: FramingParams) -> tuple[float, float, float, float]:
    """The face's square in frame coordinates (before the tilt)."""
    half = round(face_side * params.scale) / 2
    cx, cy = params.center
    return (cx - half, cy - half, cx + half, cy + half)


def render_frame(rgb: np.ndarray, params: FramingParams, seed: int, index: int) -> np.ndarray:
    """Draw the frame for ``params`` (noise textures are seeded by ``(seed, index)`` too)."""
    rng = np.random.default_rng([int(seed), int(index), 1])
    side = round(rgb.shape[0] * params.scale)
    big = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_LINEAR)
    height, width = params.frame_size
    cx, cy = params.center
    # Turn about the enlarged face's centre, then move that centre to (cx, cy).
    matrix = cv2.getRotationMatrix2D(((side - 1) / 2, (side - 1) / 2), params.tilt, 1.0)
    matrix[:, 2] += (cx - (side - 1) / 2, cy - (side - 1) / 2)
    if params.border in _CV_BORDERS:
        frame = cv2.warpAffine(big, matrix, (width, height), flags=cv2.INTER_LINEAR,
                               borderMode=_CV_BORDERS[params.border])
    else:
        if params.border == "constant":
            background = np.empty((height, width, 3), np.uint8)
            background[:] = params.colour
        else:
            background = noise_texture(rng, params.colour, (height, width))
        inside = cv2.warpAffine(np.ones((side, side), np.float32), matrix, (width, height),
                                flags=cv2.INTER_LINEAR, borderValue=0.0)[..., None]
        moved = cv2.warpAffine(big, matrix, (width, height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        frame = inside * moved.astype(np.float32) + (1 - inside) * background
    frame = frame.astype(np.float32)
    if params.noise_sigma > 0:
        frame += rng.normal(0.0, params.noise_sigma, size=frame.shape).astype(np.float32)
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8)


def noise_texture(rng: np.random.Generator, colour: tuple[int, int, int],
                   size: tuple[int, int]) -> np.ndarray:
    """A smooth colour texture: coarse random blobs around ``colour``, enlarged bicubically."""
    height, width = size
    cells = rng.normal(0.0, 40.0, size=(max(2, height // 16), max(2, width // 16), 3))
    blobs = cv2.resize(cells.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(blobs + np.asarray(colour, np.float32), 0, 255)


def _tilted_half_extent(side: float, degrees: float) -> float:
    """Half the width of the axis-aligned box around a square of ``side`` turned ``degrees``."""
    turn = np.deg2rad(abs(degrees))
    return side / 2 * (np.cos(turn) + np.sin(turn)) + 1.0


def _as_rgb(face: np.ndarray) -> np.ndarray:
    face = np.asarray(face)
    if face.dtype != np.uint8:
        raise ValueError(f"face must be uint8, got {face.dtype}")
    if face.ndim == 3 and face.shape[2] == 1:
        face = face[..., 0]
    if face.ndim == 2:
        face = np.repeat(face[..., None], 3, axis=2)
    if face.ndim != 3 or face.shape[2] != 3 or face.shape[0] != face.shape[1]:
        raise ValueError(f"face must be a square grey or RGB crop, got shape {face.shape}")
    return np.ascontiguousarray(face)
