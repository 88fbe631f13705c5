"""Errors a user can fix: the CLI prints them as one line, without a traceback."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Bad input, a missing file, an unknown name: shown as one line, exit code 2."""


class MediaError(UserError):
    """A media file that cannot be read (corrupt, empty, unsupported)."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DataFormatError(UserError):
    """A dataset file that does not follow its published layout."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
