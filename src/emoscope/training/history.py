"""Per-epoch training history from Lightning's ``metrics.csv``, kept whole across resumes.

Lightning's CSV logger deletes an existing ``metrics.csv`` when a run restarts, so a resumed
run would forget the epochs before the interruption: ``preserve_metrics`` moves the file aside
first and ``merge_metrics`` joins the pieces again after training.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from emoscope.utils.files import atomic_path

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.csv"
_PART_GLOB = "metrics.part*.csv"


def _parts(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob(_PART_GLOB), key=lambda p: int(p.stem.split("part")[-1] or 0))


def preserve_metrics(run_dir: str | Path) -> Path | None:
    """Move ``metrics.csv`` to ``metrics.part<k>.csv`` before a resumed run overwrites it."""
    run_dir = Path(run_dir)
    current = run_dir / METRICS_FILE
    if not current.is_file():
        return None
    target = run_dir / f"metrics.part{len(_parts(run_dir))}.csv"
    current.replace(target)
    return target


def _frames(run_dir: Path):
    import pandas as pd

    frames = []
    for path in [*_parts(run_dir), run_dir / METRICS_FILE]:
        if path.is_file() and path.stat().st_size > 0:
            try:
                frames.append(pd.read_csv(path))
            except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
                log.warning("skipping unreadable metrics file %s (%s)", path, err)
    return frames


def merge_metrics(run_dir: str | Path) -> None:
    """Join the preserved pieces and the new ``metrics.csv``; later rows of an epoch win."""
    import pandas as pd

    run_dir = Path(run_dir)
    parts = _parts(run_dir)
    if not parts:
        return
    frames = _frames(run_dir)
    if frames:
        tagged = pd.concat([f.assign(_piece=i) for i, f in enumerate(frames)], ignore_index=True)
        if "epoch" in tagged:
            # an epoch logged again after the resume replaces its rows from before the kill
            newest = tagged.groupby("epoch")["_piece"].transform("max")
            tagged = tagged[(tagged["_piece"] == newest) | tagged["epoch"].isna()]
        with atomic_path(run_dir / METRICS_FILE) as tmp:
            tagged.drop(columns="_piece").to_csv(tmp, index=False)
    for part in parts:
        part.unlink()


def read_history(run_dir_or_csv: str | Path) -> list[dict[str, Any]]:
    """One dict per epoch (Lightning writes one row per logging call; they are merged)."""
    import pandas as pd

    path = Path(run_dir_or_csv)
    run_dir = path if path.is_dir() else path.parent
    frames = _frames(run_dir)
    if not frames:
        return []
    frame = pd.concat(frames, ignore_index=True)
    if "epoch" not in frame:
        return []
    merged = frame.groupby("epoch").last().reset_index()
    return [{k: v for k, v in row.items() if v == v} for row in merged.to_dict("records")]
