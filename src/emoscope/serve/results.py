"""Files a request produced (annotated media, plots), kept for ``GET /results/{id}/{name}``.

Only the newest ``keep`` results stay; ids are random hex and names come from the result's own
list, so no request can name a file outside the store.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import uuid
from collections import OrderedDict
from pathlib import Path

_ID = re.compile(r"[0-9a-f]{32}")

MEDIA_TYPES = {".png": "image/png", ".mp4": "video/mp4"}


class ResultStore:
    """A temporary folder per result, dropped oldest first and all at ``close``."""

    def __init__(self, keep: int = 64):
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="emoscope-serve-"))
        self._files: OrderedDict[str, dict[str, Path]] = OrderedDict()
        self._lock = threading.Lock()

    def new_folder(self) -> tuple[str, Path]:
        result_id = uuid.uuid4().hex
        folder = self.root / result_id
        folder.mkdir()
        return result_id, folder

    def publish(self, result_id: str, files: dict[str, Path]) -> dict[str, str]:
        """Remember ``files`` (role -> path) and return role -> URL (ending in the file name)."""
        with self._lock:
            self._files[result_id] = {path.name: path for path in files.values()}
            while len(self._files) > self.keep:
                old, _ = self._files.popitem(last=False)
                shutil.rmtree(self.root / old, ignore_errors=True)
        return {role: f"/results/{result_id}/{path.name}" for role, path in files.items()}

    def discard(self, result_id: str) -> None:
        shutil.rmtree(self.root / result_id, ignore_errors=True)

    def find(self, result_id: str, name: str) -> Path | None:
        if not _ID.fullmatch(result_id):
            return None
        with self._lock:
            path = self._files.get(result_id, {}).get(name)
        return path if path is not None and path.is_file() else None

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
