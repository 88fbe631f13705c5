"""What probing a video (or an animated image) tells before any frame is decoded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class VideoInfo:
    width: int
    height: int
    fps: float | None
    frame_count: int | None
    duration_s: float | None
    backend: str
