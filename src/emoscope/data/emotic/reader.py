"""One entry point for the three EMOTIC layouts: detect which one ``root`` holds and read it."""

from __future__ import annotations

import logging
from pathlib import Path

from emoscope.data.emotic.csv_layouts import (
    find_kaggle,
    find_preprocessed,
    read_kaggle_layout,
    read_preprocessed_layout,
)
from emoscope.data.emotic.face_cache import apply_face_cache, default_cache_path, load_face_cache
from emoscope.data.emotic.mat_layout import find_annotations, read_mat_layout
from emoscope.data.emotic.records import SPLITS, EmoticData, log_skips
from emoscope.errors import DataFormatError, UserError

log = logging.getLogger(__name__)

LAYOUTS = ("mat", "preprocessed", "kaggle")


def detect_layout(root: str | Path) -> str:
    """'mat', 'preprocessed' or 'kaggle'; DataFormatError naming what was expected."""
    root = Path(root)
    if not root.is_dir():
        raise DataFormatError(root, "EMOTIC root folder not found")
    if find_annotations(root) is not None:
        return "mat"
    if find_preprocessed(root) is not None:
        return "preprocessed"
    if find_kaggle(root) is not None:
        return "kaggle"
    raise DataFormatError(root, "no EMOTIC layout found: expected Annotations/Annotations.mat, "
                          "{train,val,test}.csv (emotic_pre) or [archive/]annots_arrs/")


def read_emotic(root: str | Path, splits: str | tuple[str, ...] = SPLITS,
                layout: str | None = None, face_cache: str | Path | None = None,
                include_extra: bool = False) -> EmoticData:
    """Every usable person of ``splits`` with the cached faces, if a face cache exists.

    layout: force one of LAYOUTS instead of detecting it. face_cache: the CSV written by
    ``emoscope prepare emotic`` (default: ``ROOT/emotic_faces.csv`` when present).
    include_extra: also read Kaggle's ``annot_arrs_extra_train.csv`` into train.
    Skipped rows are logged with a one-line summary and returned in ``skipped``.
    """
    root = Path(root)
    splits = (splits,) if isinstance(splits, str) else tuple(splits)
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise UserError(f"unknown EMOTIC split '{unknown[0]}'; use one of {', '.join(SPLITS)}")
    layout = layout or detect_layout(root)
    if layout == "mat":
        data = read_mat_layout(root, splits)
    elif layout == "preprocessed":
        data = read_preprocessed_layout(root, splits)
    elif layout == "kaggle":
        data = read_kaggle_layout(root, splits, include_extra=include_extra)
    else:
        raise UserError(f"unknown EMOTIC layout '{layout}'; use one of {', '.join(LAYOUTS)}")
    cache = Path(face_cache) if face_cache else default_cache_path(root)
    if face_cache and not cache.is_file():
        raise DataFormatError(cache, "face cache not found (run 'emoscope prepare emotic')")
    entries = load_face_cache(cache)
    if entries:
        found = apply_face_cache(data.persons, entries)
        log.info("EMOTIC face cache %s: %d of %d person(s) prepared", cache, found,
                 len(data.persons))
    log_skips(data)
    if not data.persons:
        raise DataFormatError(root, f"no usable persons in split(s) {', '.join(splits)} "
                              f"({data.skip_summary()})")
    return data
