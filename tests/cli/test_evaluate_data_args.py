"""``evaluate --data KEY=VALUE`` with a key the dataset does not take, or one the command sets
itself, is one line (it was a TypeError traceback)."""

from __future__ import annotations

import pytest
from tests.cli_runner import run_cli


@pytest.mark.parametrize(("item", "message"), [
    ("cache_dir=x", "error: --data cache_dir=...: set by the command itself, not through --data"),
    ("bogus=1", "error: --data bogus: dataset 'fer2013' takes no such argument"),
])
def test_data_argument_errors_are_one_line(monkeypatch, capsys, tmp_path, tiny_model_path,
                                           item, message):
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", "--dataset", "fer2013", "--root",
                           tmp_path, "--model", tiny_model_path, "--data", item)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message)
