"""Annotated output: boxes, track ids and labels drawn on frames; png for images, mp4 for video."""

from __future__ import annotations

import colorsys
import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from emoscope.errors import UserError
from emoscope.utils.files import atomic_path

log = logging.getLogger(__name__)


@dataclass
class FaceLabel:
    """What is drawn for one face."""

    box: tuple[float, float, float, float]
    track_id: int
    label: str
    score: float
    details: str = ""  # a second line (valence/arousal, active AUs of multi-task models)


def track_colour(track_id: int) -> tuple[int, int, int]:
    """A distinct, stable RGB colour per track (golden-ratio hue steps)."""
    hue = (track_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_faces(rgb: np.ndarray, faces: list[FaceLabel], note: str | None = None) -> np.ndarray:
    """A copy of ``rgb`` with each face's box and ``#id label score`` caption."""
    import cv2

    canvas = np.ascontiguousarray(rgb.copy())
    height, width = canvas.shape[:2]
    thickness = max(1, round(max(height, width) / 400))
    font_scale = max(0.4, max(height, width) / 1200)
    for face in faces:
        colour = track_colour(face.track_id)
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness)
        caption = f"#{face.track_id} {face.label} {face.score:.2f}"
        (tw, th), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        top = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y2
        cv2.rectangle(canvas, (x1, top), (x1 + tw + 4, top + th + base + 2), colour, -1)
        cv2.putText(canvas, caption, (x1 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale, (0, 0, 0), 1, cv2.LINE_AA)
        if face.details:
            _draw_details(canvas, face.details, (x1, y2), colour, font_scale)
    if note:
        cv2.putText(canvas, note, (8, int(24 * font_scale / 0.5)), cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.putText(canvas, note, (8, int(24 * font_scale / 0.5)), cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def _draw_details(canvas: np.ndarray, text: str, corner: tuple[int, int],
                  colour: tuple[int, int, int], font_scale: float) -> None:
    """``text`` on a filled strip under the box (inside it when the frame ends there)."""
    import cv2

    scale = font_scale * 0.85
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x1, y2 = corner
    top = y2 if y2 + th + base + 2 <= canvas.shape[0] else max(0, y2 - th - base - 2)
    cv2.rectangle(canvas, (x1, top), (x1 + tw + 4, top + th + base + 2), colour, -1)
    cv2.putText(canvas, text, (x1 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (0, 0, 0), 1, cv2.LINE_AA)


def save_png(rgb: np.ndarray, path: str | Path) -> Path:
    from PIL import Image

    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG")
    return path


class VideoWriter:
    """H.264 mp4 via PyAV; frames carry their own times, so sampled or VFR input stays in sync.

    The file is written under a temporary name and moved into place by ``close``.
    """

    def __init__(self, path: str | Path, fps: float = 25.0, crf: int = 23):
        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.stem}.partial.mp4")
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        if codec not in av.codecs_available:
            raise UserError("this PyAV build has no H.264 or MPEG-4 encoder; cannot --annotate")
        self._container = av.open(str(self._tmp), "w")
        self._stream = self._container.add_stream(codec, rate=max(1, round(fps)))
        self._stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            self._stream.options = {"crf": str(crf), "preset": "veryfast"}
        self._stream.codec_context.time_base = Fraction(1, 1000)
        self._size: tuple[int, int] | None = None
        self._last_pts = -1

    def write(self, rgb: np.ndarray, time_s: float) -> None:
        import av

        height, width = rgb.shape[:2]
        if self._size is None:
            # yuv420p needs even sizes; every later frame is fitted to the first one.
            self._size = (width - width % 2, height - height % 2)
            self._stream.width, self._stream.height = self._size
        if (width, height) != self._size:
            import cv2

            rgb = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        pts = max(int(round(time_s * 1000)), self._last_pts + 1)
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        self._last_pts = pts
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> Path | None:
        if self._container is None:
            return self.path if self.path.exists() else None
        wrote = self._size is not None
        if wrote:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()
        self._container = None
        if wrote:
            self._tmp.replace(self.path)
            return self.path
        self._tmp.unlink(missing_ok=True)
        return None
