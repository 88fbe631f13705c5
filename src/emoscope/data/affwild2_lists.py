"""Aff-Wild2 multi-task list files: ``image,valence,arousal,expression,AU1,...,AU26`` per frame.

Columns are matched by name (case- and space-insensitive). Some releases write the combined
header ``image,valence,arousal,expression,aus`` while every line still carries the 12 AU values
as separate fields: that header is read as the 16 named columns.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from emoscope.data.affwild2_annotations import (
    FRAMES_DIR,
    VA_MISSING,
    Labels,
    check_values,
    norm_name,
    read_lines,
)
from emoscope.errors import DataFormatError
from emoscope.labels import AFFWILD2_ACTION_UNITS

log = logging.getLogger(__name__)

FIXED = ("image", "valence", "arousal", "expression")
AU_COLUMNS = tuple(a.lower() for a in AFFWILD2_ACTION_UNITS.labels)
COMBINED_AUS = ("aus", "au", "action_units")


def _header(path: Path) -> list[str]:
    lines = read_lines(path, "list file")
    if not lines:
        raise DataFormatError(path, "empty list file (expected a header line)")
    names = [norm_name(n) for n in lines[0].split(",")]
    if names[:4] == list(FIXED) and len(names) == 5 and names[4] in COMBINED_AUS:
        return [*FIXED, *AU_COLUMNS]
    return names


def _read_table(path: Path):
    import pandas as pd

    names = _header(path)
    missing = [w for w in (*FIXED, *AU_COLUMNS) if w not in names]
    if missing:
        raise DataFormatError(path, f"missing column(s) {', '.join(missing)}")
    try:
        return pd.read_csv(path, skipinitialspace=True, encoding="utf-8-sig", header=None,
                           skiprows=1, names=names, dtype={"image": str})
    except (OSError, ValueError, pd.errors.ParserError) as err:
        # pandas names the line of a row with too many fields
        detail = str(err).strip().splitlines()[-1][:120]
        raise DataFormatError(path, f"cannot read list file ({detail})") from None


def list_file_labels(root: Path, path: Path, frame_step: int) -> Labels:
    """A multi-task list file -> labels of the frames that have an image."""
    table = _read_table(path)
    labels = [*FIXED[1:], *AU_COLUMNS]
    short = table[labels].isna().any(axis=1).to_numpy()
    if short.any():
        row = int(np.flatnonzero(short)[0])
        raise DataFormatError(path, f"data row {row + 1} has too few fields (expected "
                              f"{len(FIXED) + len(AU_COLUMNS)})")
    try:
        va = table[["valence", "arousal"]].to_numpy(np.float64)
        expr = table["expression"].to_numpy(np.float64)
        au = table[list(AU_COLUMNS)].to_numpy(np.float64)
    except ValueError:
        raise DataFormatError(path, "non-numeric label values") from None
    for values, task in ((va, "va"), (expr, "expr"), (au, "au")):
        check_values(values, task, path, first_line=1, row_name="data row")
    keep = np.arange(0, len(table), frame_step)
    table, va, expr, au = table.iloc[keep], va[keep], expr[keep], au[keep]
    sources = [str(name).strip().replace("\\", "/") for name in table["image"]]
    present = np.array([(root / FRAMES_DIR / name).is_file() for name in sources], bool)
    if len(sources) and not present.any():
        raise DataFormatError(path, f"none of its images exist under {root / FRAMES_DIR}")
    va = np.where(va == VA_MISSING, np.nan, va).astype(np.float32)
    return Labels([s for s, k in zip(sources, present, strict=True) if k],
                  expr[present].astype(np.int64), va[present], au[present].astype(np.float32))


def list_file_videos(path: Path) -> set[str]:
    """The videos (first folder of each image path) a list file names."""
    lines = read_lines(path, "list file")[1:]
    names = (line.split(",", 1)[0].strip().replace("\\", "/") for line in lines if line.strip())
    return {name.split("/", 1)[0] for name in names if "/" in name}


def warn_list_overlap(path: Path, other: Path | None) -> set[str]:
    """Videos that both split list files name (their frames would be in both splits); warned."""
    if other is None:
        return set()
    shared = list_file_videos(path) & list_file_videos(other)
    if shared:
        log.warning("Aff-Wild2: %d video(s) are in both %s and %s, so their frames are in both "
                    "splits (e.g. %s)", len(shared), path.name, other.name, sorted(shared)[0])
    return shared
