"""Model names and paths on the analyze command line are checked before any input is read."""

from __future__ import annotations

import pytest
from PIL import Image
from tests.cli_runner import run_cli


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "grey.png"
    Image.new("RGB", (64, 64), (120, 120, 120)).save(path)
    return path


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--voice-model", "nosuch", "unknown model 'nosuch'"),
    ("--voice-model", "gone.safetensors", "gone.safetensors: model file not found"),
    ("--av-model", "gone.json", "gone.json: model file not found"),
])
def test_unknown_model_fails_up_front_for_an_image(monkeypatch, capsys, tmp_path, photo,
                                                   option, value, message):
    monkeypatch.setattr("emoscope.inference.analyze.build_analyzer", _never)
    code, _, err = run_cli(monkeypatch, capsys, "analyze", photo, option, value,
                           "--out", tmp_path / "out")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def _never(*_args, **_kwargs):
    raise AssertionError("the analyzer was built before the model names were checked")
