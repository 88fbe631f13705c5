"""Parquet tables grow by row groups: each flush writes its own rows once (the cost does not
grow with the file), and the file is a complete Parquet file after every flush."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from emoscope.inference.writers import open_writer, result_columns


def _batch(columns: dict[str, str], start: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(start)
    data = {}
    for name, dtype in columns.items():
        if dtype == "float64":
            data[name] = rng.normal(size=n)
        elif dtype == "int64":
            data[name] = np.arange(start, start + n)
        else:
            data[name] = [f"{name}-{i}" for i in range(start, start + n)]
    frame = pd.DataFrame(data).astype(columns)
    frame.loc[frame.index[0], "top_label"] = None  # a missing string survives
    return frame


@pytest.fixture
def rows_encoded(monkeypatch):
    """Rows handed to pyarrow's Parquet encoder, one entry per table written."""
    counts: list[int] = []
    original = pq.ParquetWriter.write_table

    def counting(self, table, *args, **kwargs):
        counts.append(table.num_rows)
        return original(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", counting)
    return counts


def test_each_flush_encodes_only_its_own_rows(tmp_path, rows_encoded):
    columns = result_columns(["happy", "sad"], valence_arousal=True)
    flushes = 120
    with open_writer(tmp_path / "t", columns, "parquet") as writer:
        for k in range(flushes):
            before = len(rows_encoded)
            writer.write(_batch(columns, 64 * k, 64))
            assert sum(rows_encoded[before:]) == 64  # not 64 * (k + 1)
    table = pd.read_parquet(writer.path)
    assert len(table) == 64 * flushes
    assert table["frame"].tolist() == list(range(64 * flushes))
    assert pq.ParquetFile(writer.path).num_row_groups == flushes


def test_file_is_complete_after_every_flush(tmp_path):
    columns = result_columns(["happy", "sad"], head_pose=True)
    writer = open_writer(tmp_path / "t", columns, "parquet")
    assert len(pd.read_parquet(writer.path)) == 0  # valid before any row
    written = []
    for k in range(5):
        batch = _batch(columns, 10 * k, 10 + k)
        written.append(batch)
        writer.write(batch)  # not closed: a run killed here keeps all of it
        on_disk = pd.read_parquet(writer.path)
        expected = pd.concat(written, ignore_index=True)
        pd.testing.assert_frame_equal(on_disk, expected, check_dtype=False)
        assert list(on_disk.columns) == list(columns)
    writer.close()
    file = pq.ParquetFile(writer.path)
    assert file.metadata.num_rows == sum(len(b) for b in written)
    second = file.read_row_group(2).to_pandas()
    pd.testing.assert_frame_equal(second, written[2].reset_index(drop=True), check_dtype=False)
