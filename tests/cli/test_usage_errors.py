"""Mistyped command lines end in click's short usage message and exit code 2, never a
traceback, whichever copy of click (its own or typer's vendored one) raised the error."""

from __future__ import annotations

import pytest
from tests.cli_runner import run_cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "--bogus", "x.jpg"], "No such option: --bogus"),
        (["analyze"], "Missing argument"),
        (["nosuch"], "No such command 'nosuch'"),
        (["review", "--model", "m.json", "--dataset", "fer2013"], "No such option: --dataset"),
        (["evaluate", "--batch-size", "many"], "Invalid value for '--batch-size'"),
    ],
)
def test_usage_error_is_one_message_and_exit_2(monkeypatch, capsys, args, message):
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err + out
    assert err.strip().splitlines()[-1].startswith("Error:")


def test_user_error_is_one_line(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "train", tmp_path / "missing.yaml")
    assert code == 2
    assert err.strip() == f"error: {tmp_path / 'missing.yaml'}: config file not found"
