"""``utils.files``: atomic writes, and the JSON every report writes (NaN as null)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from emoscope.utils.files import atomic_write_json, atomic_write_text, atomic_write_with, json_safe


def test_json_safe_turns_nested_nan_into_none_and_keeps_the_rest():
    value = {"a": float("nan"), "b": [1.0, float("nan"), (2, np.float64("nan"))],
             "c": {"d": "nan", "e": 0.5, "f": None, "g": float("inf")}}
    assert json_safe(value) == {"a": None, "b": [1.0, None, [2, None]],
                                "c": {"d": "nan", "e": 0.5, "f": None, "g": float("inf")}}


def test_atomic_write_json_writes_standard_json(tmp_path):
    path = tmp_path / "report.json"
    atomic_write_json(path, {"mAP": float("nan"), "n": 3})
    text = path.read_text()
    assert "NaN" not in text and text.endswith("\n")
    assert json.loads(text) == {"mAP": None, "n": 3}


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.json"
    atomic_write_text(path, "old\n")

    def half_then_fail(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_with(path, half_then_fail)
    assert path.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["out.json"]
