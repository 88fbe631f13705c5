"""Writers: round trips, validity after every batch, empty tables with all columns."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from emoscope.errors import UserError
from emoscope.inference.writers import open_writer, read_table, result_columns, rows_to_frame

LABELS = ["happy", "sad"]


def rows(start: int, n: int) -> list[dict]:
    return [
        {"source": "v.mp4", "frame": i, "time_s": i / 25, "track_id": i % 2, "x1": 1.5, "y1": 2.0,
         "x2": 30.0, "y2": 40.0, "det_score": 0.9, "p_happy": 0.75, "p_sad": 0.25,
         "top_label": "happy", "valence": 0.5, "arousal": -0.1}
        for i in range(start, start + n)
    ]


def test_columns_follow_the_label_space():
    columns = list(result_columns(LABELS, valence_arousal=True, smoothed=True))
    assert columns[:9] == ["source", "frame", "time_s", "track_id", "x1", "y1", "x2", "y2",
                           "det_score"]
    assert columns[9:] == ["p_happy", "p_sad", "top_label", "valence", "arousal",
                           "smooth_happy", "smooth_sad", "top_label_smooth"]


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_round_trip_and_valid_after_every_batch(tmp_path, fmt):
    columns = result_columns(LABELS, valence_arousal=True)
    writer = open_writer(tmp_path / "out", columns, fmt)
    assert writer.path.name == f"out.{fmt}"
    assert list(read_table(writer.path).columns) == list(columns)  # valid before any row
    total = 0
    for start, n in ((0, 3), (3, 5), (8, 1)):
        writer.write(rows_to_frame(rows(start, n), columns))
        total += n
        table = read_table(writer.path)  # readable while the writer is still open
        assert len(table) == total
    writer.close()
    table = read_table(writer.path)
    assert table["frame"].tolist() == list(range(9))
    assert table["p_happy"].tolist() == pytest.approx([0.75] * 9)
    assert set(table["top_label"]) == {"happy"}
    assert list(table.columns) == list(columns)


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_empty_table_keeps_all_columns(tmp_path, fmt):
    columns = result_columns(LABELS, valence_arousal=False, smoothed=True)
    with open_writer(tmp_path / "none", columns, fmt) as writer:
        writer.write(rows_to_frame([], columns))
    table = read_table(writer.path)
    assert len(table) == 0 and list(table.columns) == list(columns)


def test_json_is_plain_json(tmp_path):
    columns = result_columns(LABELS)
    with open_writer(tmp_path / "t", columns, "json") as writer:
        writer.write(rows_to_frame(rows(0, 2), columns))
    data = json.loads(writer.path.read_text())
    assert data["columns"] == list(columns)
    assert data["rows"][1]["frame"] == 1 and data["rows"][0]["top_label"] == "happy"


def test_parquet_types(tmp_path):
    columns = result_columns(LABELS)
    with open_writer(tmp_path / "t", columns, "parquet") as writer:
        writer.write(rows_to_frame(rows(0, 2), columns))
        writer.write(rows_to_frame(rows(2, 2), columns))
    table = pd.read_parquet(writer.path)
    assert str(table["frame"].dtype) == "int64" and str(table["x1"].dtype) == "float64"


def test_unknown_format(tmp_path):
    with pytest.raises(UserError, match="known formats: csv, json, parquet"):
        open_writer(tmp_path / "x", result_columns(LABELS), "xlsx")
