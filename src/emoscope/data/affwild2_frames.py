"""The Aff-Wild2 frame cache: decoded frames on disk, read back memory-mapped.

The full release holds millions of frames (about 38 GB per million at 112 x 112 RGB), more
than a training machine's memory. Frames are therefore decoded in chunks of ``CHUNK_BYTES``
and appended to a ``.npy`` file that is then opened with ``mmap_mode``: the operating system
pages in only the frames a batch reads, and memory does not grow with the frame count.

With a cache folder the files are ``affwild2-<split>-<key>.frames.npy`` and
``.labels.npz`` (written last: a cache without it is incomplete and rebuilt). Without one the
frames go to a temporary file that is unlinked at once (the mapping keeps it until released).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from emoscope.data.affwild2_annotations import FRAMES_DIR, Labels
from emoscope.errors import DataFormatError
from emoscope.utils.files import atomic_path

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 2**20  # decoded frames held in memory at once while writing


def decode_frame(path: Path, size: int) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise DataFormatError(path, f"cannot read image ({err.__class__.__name__})") from None


def labels_digest(labels: Labels) -> str:
    """Changes whenever a frame or a label changes: the cache is never stale."""
    digest = hashlib.sha1("\n".join(labels.sources).encode())
    for values in (labels.expressions, labels.valence_arousal, labels.action_units):
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _write_frames(root: Path, sources: list[str], size: int, handle) -> None:
    shape = (len(sources), size, size, 3)
    np.lib.format.write_array_header_1_0(
        handle, {"descr": np.dtype(np.uint8).str, "fortran_order": False, "shape": shape})
    per_chunk = max(1, CHUNK_BYTES // (size * size * 3))
    chunk = np.empty((min(per_chunk, max(1, len(sources))), size, size, 3), np.uint8)
    for start in range(0, len(sources), per_chunk):
        names = sources[start:start + per_chunk]
        for i, name in enumerate(names):
            chunk[i] = decode_frame(root / FRAMES_DIR / name, size)
        handle.write(chunk[:len(names)].tobytes())


def open_frames(path: Path) -> np.ndarray:
    """The frames as a copy-on-write memory map (writable for torch, the file never changes)."""
    return np.load(path, mmap_mode="c")


def decode_to_file(root: Path, sources: list[str], size: int, path: Path | None) -> np.ndarray:
    """Decode ``sources`` into ``path`` (a temporary file when None); memory-mapped frames."""
    if path is None:
        fd, name = tempfile.mkstemp(prefix="emoscope-affwild2-", suffix=".npy")
        try:
            with os.fdopen(fd, "wb") as handle:
                _write_frames(root, sources, size, handle)
            return open_frames(Path(name))
        finally:
            os.unlink(name)  # the mapping stays valid; the disk space is freed with it
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            _write_frames(root, sources, size, handle)
    return open_frames(path)


def cache_paths(cache_dir: Path, split: str, key: str) -> tuple[Path, Path]:
    stem = f"affwild2-{split}-{key}"
    return cache_dir / f"{stem}.frames.npy", cache_dir / f"{stem}.labels.npz"


def save_labels(labels: Labels, path: Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, expressions=labels.expressions,
                     valence_arousal=labels.valence_arousal,
                     action_units=labels.action_units, sources=np.array(labels.sources))


def load_cached(frames: Path, labels: Path) -> tuple[np.ndarray, Labels] | None:
    if not (frames.is_file() and labels.is_file()):
        return None
    try:
        with np.load(labels, allow_pickle=False) as data:
            cached = Labels([str(s) for s in data["sources"]], data["expressions"],
                            data["valence_arousal"], data["action_units"])
        images = open_frames(frames)
    except (OSError, ValueError, KeyError) as err:
        log.warning("ignoring unreadable cache %s (%s)", frames, err)
        return None
    if len(images) != len(cached.sources):
        log.warning("ignoring cache %s: %d frames for %d labels", frames, len(images),
                    len(cached.sources))
        return None
    return images, cached
