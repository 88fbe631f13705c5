"""Animated images (GIF, APNG, animated WebP) and multi-page TIFFs as timed frames, via PIL.

They are analysed as videos: every frame, tracked, with times from the per-frame delays.
PyAV reads GIF and APNG but not animated WebP, so PIL reads all of them the same way.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageSequence, UnidentifiedImageError

from emoscope.data.images import MAX_DECODED_PIXELS, pil_to_rgb
from emoscope.errors import MediaError

log = logging.getLogger(__name__)

ANIMATABLE_SUFFIXES = frozenset({".gif", ".png", ".apng", ".webp", ".tif", ".tiff"})

# Browsers show GIF frames with a delay under 20 ms (or none) for 100 ms; TIFF pages have none.
DEFAULT_DELAY_MS = 100
MIN_DELAY_MS = 20


def is_animated_image(path: Path) -> bool:
    """True for an image file with more than one frame (reads the header, not the pixels)."""
    if path.suffix.lower() not in ANIMATABLE_SUFFIXES:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                return bool(getattr(image, "is_animated", False))
    except Exception:  # unreadable files are reported by the image reader, not here
        return False


def _delay_s(frame: Image.Image) -> float:
    delay = frame.info.get("duration") or 0
    return (delay if delay >= MIN_DELAY_MS else DEFAULT_DELAY_MS) / 1000


def probe_animated(path: Path):
    """Size, frame count, mean frame rate and duration, as a ``VideoInfo`` (backend "pil")."""
    from emoscope.data.video_info import VideoInfo

    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_DECODED_PIXELS:  # every frame is decoded at full size
                raise MediaError(path, f"image too large to decode ({width}x{height} pixels; "
                                       f"at most {MAX_DECODED_PIXELS // 1_000_000} megapixels)")
            count, duration = 0, 0.0
            try:
                for frame in ImageSequence.Iterator(image):
                    if image.format == "WEBP":
                        frame.load()  # WebP gives a frame's delay only once it is decoded
                    count += 1
                    duration += _delay_s(frame)
            except (OSError, ValueError, EOFError):
                if count == 0:
                    raise
                # damaged further on: the frames before it are read (and the damage logged)
    except MediaError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, EOFError) as err:
        raise MediaError(path, f"not a readable animated image ({err})") from None
    return VideoInfo(width, height, count / duration if duration else None, count, duration,
                     "pil")


def frames_animated(path: Path) -> Iterator[tuple[int, float, object]]:
    """(index, time in seconds, RGB getter) per frame; a frame starts when the last ends."""
    try:
        image = Image.open(path)
    except (UnidentifiedImageError, OSError) as err:
        raise MediaError(path, f"not a readable animated image ({err})") from None
    with image:
        time_s, index = 0.0, -1
        try:
            for frame in ImageSequence.Iterator(image):
                index += 1
                rgb = pil_to_rgb(frame)
                yield index, time_s, (lambda rgb=rgb: rgb)
                time_s += _delay_s(frame)
        except (OSError, ValueError, EOFError) as err:
            if index < 0:
                raise MediaError(path, f"cannot decode animated image ({err})") from None
            log.warning("%s: decoding stopped after frame %d (%s)", path, index, err)
