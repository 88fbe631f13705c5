"""Hand-written notes (``--extra FILE``) merged into a model card's ``extra`` by the ship
scripts, so that no card is edited by hand after the scores were measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def merge_notes(extra: dict[str, Any], path: Path | None, own: set[str]) -> dict[str, Any]:
    """``extra`` updated with the JSON object in ``path`` (unchanged when None); keys in
    ``own`` are the script's measurements and may not be overwritten."""
    if path is None:
        return extra
    notes = json.loads(path.read_text())
    clash = sorted(set(notes) & own)
    if clash:
        raise SystemExit(f"{path}: keys {clash} would overwrite the card's own")
    return {**extra, **notes}
