"""Command-line inputs (files, folders) -> a sorted list of media items, one kind each.

A folder's members are its images, videos and audio files (audio gets the voice timeline)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from emoscope.data.animated import is_animated_image
from emoscope.data.audio import AUDIO_SUFFIXES, is_sound_only
from emoscope.data.images import IMAGE_SUFFIXES, looks_like_image
from emoscope.data.video import VIDEO_SUFFIXES
from emoscope.errors import MediaError

log = logging.getLogger(__name__)

MediaKind = Literal["image", "video", "folder"]


@dataclass
class MediaInput:
    """One thing the user named: an image, a video or a folder of images, videos and audio."""

    path: Path
    kind: MediaKind
    files: list[Path] = field(default_factory=list)  # folder members, sorted
    skipped: list[Path] = field(default_factory=list)  # folder files that are not media

    @property
    def name(self) -> str:
        return self.path.stem if self.kind != "folder" else self.path.name


def media_kind(path: Path) -> Literal["image", "video"] | None:
    """Kind by suffix; files with unknown suffixes are sniffed (image header, then container).

    Animated images (GIF, APNG, WebP) and multi-page TIFFs are videos: every frame is analysed.
    """
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "video" if is_animated_image(path) else "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if looks_like_image(path):
        return "image"
    if _looks_like_video(path):
        return "video"
    return None


def _looks_like_video(path: Path) -> bool:
    try:
        import av

        with av.open(str(path)) as container:
            return bool(container.streams.video)
    except Exception:  # any failure means "not a video we can read"
        return False


def _folder_members(folder: Path) -> tuple[list[Path], list[Path]]:
    media, skipped = [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue  # hidden files and folders (.DS_Store, .git)
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES or suffix in VIDEO_SUFFIXES or suffix in AUDIO_SUFFIXES:
            media.append(path)
        else:
            skipped.append(path)
    return media, skipped


def resolve_input(path: str | Path) -> MediaInput:
    """Classify one input; MediaError naming the path when it is missing or not media."""
    path = Path(path)
    if path.is_dir():
        files, skipped = _folder_members(path)
        for other in skipped:
            log.warning("%s: skipped (not an image, video or audio file)", other)
        if not files:
            raise MediaError(path, "folder holds no images, videos or audio files")
        return MediaInput(path, "folder", files, skipped)
    if not path.exists():
        raise MediaError(path, "file not found")
    if not path.is_file():
        raise MediaError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty file")
    kind = media_kind(path)
    if kind is None:
        raise MediaError(path, f"not an image or video (unsupported file type '{path.suffix}')")
    return MediaInput(path, kind)


def file_kind(path: Path) -> Literal["image", "video", "audio"]:
    """Kind of a folder member (suffix already checked); a container holding sound only (a
    voice memo saved as .mp4) is audio."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES and not is_animated_image(path):
        return "image"
    if suffix in AUDIO_SUFFIXES or (suffix in VIDEO_SUFFIXES and is_sound_only(path)):
        return "audio"
    return "video"
