"""Generic "one folder per class" datasets: ``root/<split>/<class>/*.jpg`` (CAER-S, AffectNet-style
exports, a user's own photos). Class names come from the folders or from a given list."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from emoscope.data.faces import FaceArrays, cache_key, load_cache, save_cache
from emoscope.errors import DataFormatError, UserError
from emoscope.labels import LabelSpace
from emoscope.registry import DATASETS

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _class_folders(split_dir: Path, classes: Sequence[str] | None) -> list[tuple[str, Path]]:
    """(label, folder) pairs; with ``classes`` given, folders match them case-insensitively."""
    folders = {p.name: p for p in sorted(split_dir.iterdir()) if p.is_dir()}
    if classes is None:
        return sorted(folders.items())
    by_lower = {name.lower(): path for name, path in folders.items()}
    wanted = {c.lower() for c in classes}
    unknown = sorted(n for n in folders if n.lower() not in wanted)
    if unknown:
        raise DataFormatError(split_dir, f"class folder(s) {', '.join(unknown)} not in the given "
                              f"classes {', '.join(classes)}")
    return [(c, by_lower[c.lower()]) for c in classes if c.lower() in by_lower]


def _read_image(path: Path, size: int, grayscale: bool) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img = img.convert("L" if grayscale else "RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise DataFormatError(path, f"cannot read image ({err.__class__.__name__})") from None


def _scan(root: Path, split: str, classes: Sequence[str] | None) -> tuple[list[str], list[Path],
                                                                          list[int]]:
    split_dir = root / split
    if not split_dir.is_dir():
        have = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise DataFormatError(split_dir, "split folder not found (expected <root>/<split>/<class>/"
                              f"<image>; folders here: {', '.join(have) or 'none'})")
    pairs = _class_folders(split_dir, classes)
    names = list(classes) if classes is not None else [name for name, _ in pairs]
    if not names:
        raise DataFormatError(split_dir, "no class folders found")
    paths, labels = [], []
    for name, folder in pairs:
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                paths.append(path)
                labels.append(names.index(name))
    if not paths:
        raise DataFormatError(split_dir, "no images found in the class folders")
    return names, paths, labels


@DATASETS.register("image_folder")
def load_image_folder(
    root: str | Path,
    split: str = "train",
    cache_dir: str | Path | None = None,
    image_size: int = 48,
    grayscale: bool = True,
    classes: Sequence[str] | None = None,
    label_space_name: str = "",
) -> FaceArrays:
    """Every image under ``root/<split>/<class>/`` (sub-folders included), resized to
    ``image_size`` squared, grey (N, H, W) or RGB (N, H, W, 3).

    classes: label names in output order; default the sorted folder names of the split, so give
        them explicitly when a split may lack a class. label_space_name: default the root
        folder's name.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: dataset root not found")
    names, paths, labels = _scan(root, split, classes)
    label_space = LabelSpace(label_space_name or root.resolve().name, "single_label", tuple(names))
    cache = None
    if cache_dir is not None:
        stamp = max(p.stat().st_mtime_ns for p in paths)
        key = cache_key(root.resolve(), split, names, len(paths), stamp, image_size, grayscale)
        cache = Path(cache_dir) / f"image_folder-{split}-{key}.npz"
        cached = load_cache(cache, label_space)
        if cached is not None:
            return cached
    images = np.stack([_read_image(p, image_size, grayscale) for p in paths])
    arrays = FaceArrays(images, np.asarray(labels, np.int64), label_space,
                        [str(p.relative_to(root)) for p in paths])
    if cache is not None:
        save_cache(arrays, cache)
    log.info("image folder %s/%s: %d images, %d classes", root, split, len(arrays), len(names))
    return arrays
