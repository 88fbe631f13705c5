"""Run ``emoscope`` in-process as a user would, returning (exit code, stdout, stderr)."""

from __future__ import annotations

import sys

from emoscope.cli.main import main


def run_cli(monkeypatch, capsys, *args: object) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["emoscope", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err
