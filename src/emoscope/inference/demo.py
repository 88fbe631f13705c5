"""Sample media the project makes itself, from scikit-image's public-domain astronaut photo.

``skimage.data.astronaut()`` is NASA's portrait of Eileen Collins (public domain, as stated in
scikit-image's data README). The video is rendered from it by moving a virtual camera.
"""

from __future__ import annotations

import logging
import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from emoscope.errors import UserError

log = logging.getLogger(__name__)

ASTRONAUT_FACE = (177, 70, 275, 178)  # (x1, y1, x2, y2) of the face in the 512x512 photo


def astronaut() -> np.ndarray:
    """The 512x512 RGB astronaut photo (needs scikit-image: ``pip install emoscope[demo]``)."""
    try:
        from skimage import data
    except ImportError:
        raise UserError("the demo media need scikit-image: pip install 'emoscope[demo]'") from None
    return np.ascontiguousarray(data.astronaut())


def camera_path(photo: np.ndarray, width: int, height: int, frames: int,
                mirrored_guest: bool = False) -> list[np.ndarray]:
    """Frames of a camera panning and zooming over ``photo`` so the face moves and scales.

    With ``mirrored_guest`` a mirrored copy of the photo sits beside it, giving two faces.
    """
    import cv2

    canvas = np.concatenate([photo, photo[:, ::-1]], axis=1) if mirrored_guest else photo
    ch, cw = canvas.shape[:2]
    out = []
    for i in range(frames):
        phase = i / max(frames - 1, 1)
        zoom = 1.0 + 0.35 * math.sin(math.pi * phase)  # in, then out
        view_h = ch / zoom
        view_w = min(cw, view_h * width / height)
        view_h = view_w * height / width
        cx = view_w / 2 + (cw - view_w) * (0.5 + 0.5 * math.sin(2 * math.pi * phase))
        cy = view_h / 2 + (ch - view_h) * (0.12 + 0.1 * math.cos(2 * math.pi * phase))
        cx = min(max(cx, view_w / 2), cw - view_w / 2)
        cy = min(max(cy, view_h / 2), ch - view_h / 2)
        sx, sy = width / view_w, height / view_h
        matrix = np.array([[sx, 0, width / 2 - sx * cx], [0, sy, height / 2 - sy * cy]])
        out.append(cv2.warpAffine(canvas, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT))
    return out


def write_video(frames: list[np.ndarray], path: str | Path, fps: float = 25.0,
                times: list[float] | None = None) -> Path:
    """Encode RGB frames as H.264 mp4 with PyAV; ``times`` (seconds) gives variable rate."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            t = times[i] if times is not None else i / fps
            frame.pts, frame.time_base = int(round(t * 1000)), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_demo_media(folder: str | Path, seconds: float = 4.0, fps: float = 25.0) -> list[Path]:
    """Write ``astronaut.png`` and ``astronaut_pan.mp4`` (640x360, two faces) into ``folder``."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    photo = astronaut()
    image_path = folder / "astronaut.png"
    Image.fromarray(photo).save(image_path)
    frames = camera_path(photo, 640, 360, int(seconds * fps), mirrored_guest=True)
    video_path = write_video(frames, folder / "astronaut_pan.mp4", fps)
    log.info("demo media written to %s", folder)
    return [image_path, video_path]


def run_demo(out: str | Path = "runs/demo", model: str | None = None, device: str = "cpu"):
    """Make the sample media and analyse them with plots and annotations into ``out``."""
    from emoscope.inference.analyze import AnalyzeOptions, run_analysis

    out = Path(out)
    media = make_demo_media(out / "media")
    options = AnalyzeOptions(out=str(out), model=model, device=device, smooth=5,
                             annotate=True, plots=True, pose=True)
    return run_analysis(media, options)
