"""Video files via PyAV (OpenCV as fallback), animated images via PIL and live sources via
OpenCV, as timed RGB frames.

Times come from each frame's presentation timestamp, so variable frame rate video gets true
times; ``every`` keeps every N-th decoded frame and ``fps`` keeps frames at a target rate.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emoscope.data.animated import frames_animated, is_animated_image, probe_animated
from emoscope.data.images import MAX_DECODED_PIXELS, shrink_to_max_side
from emoscope.data.video_info import VideoInfo
from emoscope.errors import MediaError, UserError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}
)

# Decoded frames are downscaled to this longest side: detection and face crops need no more.
MAX_FRAME_SIDE = 1920
# Highest sampling rate ``fps`` may ask for: above every camera's rate, and a period (1 ms) far
# above float resolution at any plausible timestamp, so sampling always moves forward.
MAX_SAMPLE_FPS = 1000.0
# Timestamp rounding of constant-rate streams that sampling at a target rate absorbs.
_SAMPLE_SLACK_S = 5e-4


def check_sample_fps(fps: float | None, name: str = "--fps") -> None:
    """UserError unless ``fps`` is None or a finite rate in (0, MAX_SAMPLE_FPS]."""
    if fps is None:
        return
    if not (math.isfinite(fps) and 0 < fps <= MAX_SAMPLE_FPS):
        raise UserError(f"{name} must be a number of frames per second above 0 and at most "
                        f"{MAX_SAMPLE_FPS:g}, got {fps:g}")


@dataclass
class Frame:
    """One analysed frame: RGB pixels, its decode index, time and scale back to source pixels."""

    rgb: np.ndarray
    index: int
    time_s: float
    scale: float = 1.0


class FrameSampler:
    """Decides which decoded frames to keep: every N-th, or at most ``fps`` per second."""

    def __init__(self, every: int = 1, fps: float | None = None):
        if every < 1:
            raise ValueError("every must be >= 1")
        check_sample_fps(fps, "fps")
        self.every = every
        self.period = None if fps is None else 1.0 / fps
        self._next_time: float | None = None

    def keep(self, index: int, time_s: float) -> bool:
        if index % self.every != 0:
            return False
        if self.period is None:
            return True
        if not math.isfinite(time_s):
            return False  # a broken timestamp: no place on the time line
        if self._next_time is None:
            self._next_time = time_s
        reached = time_s + _SAMPLE_SLACK_S
        if reached < self._next_time:
            return False
        # The next kept time is the first multiple of the period after this frame: computed,
        # not stepped to, so a long gap between timestamps costs one step.
        steps = math.floor((reached - self._next_time) / self.period) + 1
        following = self._next_time + steps * self.period
        if following <= reached:  # rounding of the division
            following += self.period
        self._next_time = following if following > reached else math.nextafter(reached, math.inf)
        return True


class VideoReader:
    """Timed RGB frames of a video file; PyAV first, OpenCV if PyAV cannot open it."""

    def __init__(self, path: str | Path, every: int = 1, fps: float | None = None,
                 max_side: int = MAX_FRAME_SIDE, check: Callable[[], None] | None = None):
        self.path = Path(path)
        self.sampler = FrameSampler(every, fps)
        self.max_side = max_side
        # called for every decoded frame, kept or not: a deadline that skipped frames reach too
        self.check = check
        if not self.path.is_file():
            raise MediaError(self.path, "file not found")
        if self.path.stat().st_size == 0:
            raise MediaError(self.path, "empty file")
        self.info = self._probe()
        if self.info.width * self.info.height > MAX_DECODED_PIXELS:  # each frame decodes whole
            raise MediaError(self.path, f"video frames too large to decode ({self.info.width}x"
                                        f"{self.info.height} pixels; at most "
                                        f"{MAX_DECODED_PIXELS // 1_000_000} megapixels)")

    def _probe(self) -> VideoInfo:
        if is_animated_image(self.path):
            return probe_animated(self.path)
        try:
            return _probe_pyav(self.path)
        except MediaError as pyav_error:
            info = _probe_opencv(self.path)
            if info is None:
                raise pyav_error from None
            log.info("%s: PyAV could not open it (%s); using OpenCV", self.path,
                     pyav_error.problem)
            return info

    def __iter__(self) -> Iterator[Frame]:
        frames = {"pyav": _frames_pyav, "pil": frames_animated}.get(self.info.backend,
                                                                   _frames_opencv)
        for index, time_s, get_rgb in frames(self.path):
            if self.check is not None:
                self.check()
            if self.sampler.keep(index, time_s):
                rgb, scale = shrink_to_max_side(get_rgb(), self.max_side)
                yield Frame(rgb, index, time_s, scale)


def _probe_pyav(path: Path) -> VideoInfo:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(path, "no video stream")
            stream = container.streams.video[0]
            if stream.codec_context is None or not stream.codec_context.name:
                raise MediaError(path, "unsupported video codec")
            rate = float(stream.average_rate) if stream.average_rate else None
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            return VideoInfo(stream.codec_context.width, stream.codec_context.height, rate,
                             stream.frames or None, duration, "pyav")
    except MediaError:
        raise
    except av.FFmpegError as err:
        raise MediaError(path, f"not a readable video ({_ffmpeg_reason(err)})") from None
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise MediaError(path, f"not a readable video ({err})") from None


def _ffmpeg_reason(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err) or err.__class__.__name__


def _frames_pyav(path: Path) -> Iterator[tuple[int, float, object]]:
    import av

    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise MediaError(path, f"not a readable video ({_ffmpeg_reason(err)})") from None
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base = stream.time_base
        start = stream.start_time if stream.start_time is not None else None
        index = -1
        try:
            for frame in container.decode(stream):
                index += 1
                if frame.pts is not None and base is not None:
                    start = frame.pts if start is None else start
                    time_s = float((frame.pts - start) * base)
                else:
                    rate = float(stream.average_rate or 25)
                    time_s = index / rate
                yield index, time_s, (lambda f=frame: _upright_rgb(f))
        except av.FFmpegError as err:
            if index < 0:
                raise MediaError(path, f"cannot decode video ({_ffmpeg_reason(err)})") from None
            log.warning("%s: decoding stopped after frame %d (%s)", path, index,
                        _ffmpeg_reason(err))


def _upright_rgb(frame) -> np.ndarray:
    """RGB pixels as the video is meant to be seen: phones store portrait video sideways with
    a display matrix (``frame.rotation``, degrees counter-clockwise), as players and OpenCV do."""
    rgb = frame.to_ndarray(format="rgb24")
    turns = round(getattr(frame, "rotation", 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def _probe_opencv(path: Path) -> VideoInfo | None:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return None
        ok, _ = capture.read()
        if not ok:
            return None
        fps = capture.get(cv2.CAP_PROP_FPS) or None
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        duration = count / fps if count and fps else None
        return VideoInfo(width, height, fps, count, duration, "opencv")
    finally:
        capture.release()


def _frames_opencv(path: Path) -> Iterator[tuple[int, float, object]]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    index = -1
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            index += 1
            msec = capture.get(cv2.CAP_PROP_POS_MSEC)
            time_s = msec / 1000.0 if msec > 0 or index == 0 else index / fps
            yield index, time_s, (lambda b=bgr: cv2.cvtColor(b, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()


class StreamReader:
    """A webcam index (``"0"``), a video file or a network URL read live through OpenCV."""

    def __init__(self, source: str | int, every: int = 1, max_side: int = MAX_FRAME_SIDE):
        import cv2

        self.source = str(source)
        self.is_camera = self.source.isdigit()
        self.is_file = not self.is_camera and Path(self.source).is_file()
        if not self.is_camera and "://" not in self.source and not self.is_file:
            raise MediaError(self.source, "not a camera index, video file or stream URL")
        target = int(self.source) if self.is_camera else self.source
        previous = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our error says it
        try:
            self.capture = cv2.VideoCapture(target)
        finally:
            cv2.utils.logging.setLogLevel(previous)
        if not self.capture.isOpened():
            self.capture.release()
            raise MediaError(self.source, "cannot open camera or stream")
        self.every = max(1, every)
        self.max_side = max_side
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or None

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        started = time.monotonic()
        index = -1
        try:
            while True:
                ok, bgr = self.capture.read()
                if not ok:
                    if index < 0:
                        raise MediaError(self.source, "no frames could be read")
                    return
                index += 1
                if index % self.every:
                    continue
                if self.is_file:
                    time_s = self.capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                else:
                    time_s = time.monotonic() - started
                rgb, scale = shrink_to_max_side(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.max_side)
                yield Frame(rgb, index, time_s, scale)
        finally:
            self.close()

    def close(self) -> None:
        self.capture.release()
