"""``emoscope analyze --engine``: argument errors before any cluster starts, and the summary
table the command prints (the Ray run itself: tests/inference/test_batch_ray.py)."""

from __future__ import annotations

import pytest

from cli_runner import run_cli
from emoscope.cli.batch_view import print_summary
from emoscope.inference.batch_ray import FileStatus


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "spark"], "error: unknown engine 'spark'; use local or ray"),
    (["--engine", "ray", "--workers", "0"], "error: --workers must be at least 1, got 0"),
    (["--engine", "ray", "--retries", "-1"], "error: --retries must be 0 or more, got -1"),
])
def test_bad_engine_arguments_are_one_line_errors(monkeypatch, capsys, tmp_path, args, message):
    code, _, err = run_cli(monkeypatch, capsys, "analyze", tmp_path / "x.jpg", "--out",
                           tmp_path / "out", *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_summary_table_totals(capsys):
    print_summary([
        FileStatus("a.mp4", "a", "ok", rows=40, frames=20, seconds=1.5, attempts=2,
                   worker="node:11"),
        FileStatus("b.jpg", "b", "failed", attempts=1, error="b.jpg: not an image"),
    ])
    out = capsys.readouterr().out
    assert "1/2 analysed" in out and "a.mp4" in out and "failed" in out
    assert "node:11" in out and "1.50" in out
