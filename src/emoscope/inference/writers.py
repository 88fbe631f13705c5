"""Result tables written batch by batch; after every ``write`` the file on disk is complete.

csv appends whole rows under a header written at open; json keeps one array whose closing
bracket is rewritten after each batch; parquet adds each batch as a row group and rewrites only
its footer (``parquet_append``). No format writes earlier rows again, so the cost of a batch
does not grow with the file, and memory never holds the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from emoscope.errors import UserError
from emoscope.faces.face_mesh import MESH_POINTS, POSE_COLUMNS

BASE_COLUMNS = {
    "source": "string",
    "frame": "int64",
    "time_s": "float64",
    "track_id": "int64",
    "x1": "float64",
    "y1": "float64",
    "x2": "float64",
    "y2": "float64",
    "det_score": "float64",
}


def result_columns(labels: Sequence[str], valence_arousal: bool = False,
                   smoothed: bool = False, action_units: Sequence[str] = (),
                   head_pose: bool = False, landmarks: bool = False) -> dict[str, str]:
    """Column name -> pandas dtype of the per-face table of a model with ``labels``
    (``action_units``: the AU names of a multi-task model, as ``au_<name>`` probabilities;
    ``head_pose``: yaw, pitch, roll; ``landmarks``: the face mesh's ``lm_x_<k>, lm_y_<k>``)."""
    columns = dict(BASE_COLUMNS)
    columns.update({f"p_{label}": "float64" for label in labels})
    columns["top_label"] = "string"
    if valence_arousal:
        columns.update({"valence": "float64", "arousal": "float64"})
    columns.update({f"au_{name}": "float64" for name in action_units})
    if smoothed:
        columns.update({f"smooth_{label}": "float64" for label in labels})
        columns["top_label_smooth"] = "string"
        if action_units:  # multi-task models: smoothed VA and AUs too
            if valence_arousal:
                columns.update({"smooth_valence": "float64", "smooth_arousal": "float64"})
            columns.update({f"smooth_au_{name}": "float64" for name in action_units})
    if head_pose:
        columns.update({name: "float64" for name in POSE_COLUMNS})
    if landmarks:
        columns.update({f"lm_x_{k}": "float64" for k in range(MESH_POINTS)})
        columns.update({f"lm_y_{k}": "float64" for k in range(MESH_POINTS)})
    return columns


def conform(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Exactly ``columns`` in order with their dtypes (missing ones empty)."""
    out = pd.DataFrame({name: frame[name] if name in frame else pd.Series(dtype=dtype)
                        for name, dtype in columns.items()})
    return out.astype(columns) if len(out) else empty_table(columns)


def empty_table(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


class TableWriter:
    """Base: ``write`` appends a DataFrame batch, ``close`` finishes; valid after each call."""

    suffix = ""

    def __init__(self, path: str | Path, columns: dict[str, str]):
        self.path = Path(path)
        self.columns = columns
        self.rows = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, batch: pd.DataFrame) -> None:
        raise NotImplementedError

    def close(self) -> Path:
        return self.path

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CsvWriter(TableWriter):
    suffix = ".csv"

    def __init__(self, path: str | Path, columns: dict[str, str]):
        super().__init__(path, columns)
        self._handle = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._handle.write(",".join(columns) + "\n")
        self._handle.flush()

    def write(self, batch: pd.DataFrame) -> None:
        if len(batch):
            conform(batch, self.columns).to_csv(self._handle, header=False, index=False,
                                                float_format="%.6g", lineterminator="\n")
            self._handle.flush()
            self.rows += len(batch)

    def close(self) -> Path:
        if not self._handle.closed:
            self._handle.close()
        return self.path


class JsonWriter(TableWriter):
    """``{"columns": [...], "rows": [{...}, ...]}``: the column list survives an empty table.

    The bytes after the last row are always ``\\n]}\\n``, rewritten after each batch.
    """

    suffix = ".json"
    _TAIL = b"\n]}\n"

    def __init__(self, path: str | Path, columns: dict[str, str]):
        super().__init__(path, columns)
        self._handle = open(self.path, "w+b")  # noqa: SIM115
        head = ('{"columns": ' + json.dumps(list(columns)) + ', "rows": [').encode()
        self._handle.write(head + self._TAIL)
        self._handle.flush()
        self._end = len(head)  # offset just after the last row (or after "[")

    def write(self, batch: pd.DataFrame) -> None:
        if not len(batch):
            return
        lines = conform(batch, self.columns).to_json(orient="records", lines=True,
                                                     double_precision=6)
        body = ",\n".join(line for line in lines.splitlines() if line)
        chunk = ((",\n" if self.rows else "\n") + body).encode()
        self._handle.seek(self._end)
        self._handle.write(chunk + self._TAIL)
        self._handle.truncate()
        self._handle.flush()
        self._end += len(chunk)
        self.rows += len(batch)

    def close(self) -> Path:
        if not self._handle.closed:
            self._handle.close()
        return self.path


class ParquetWriter(TableWriter):
    """Each batch is one more row group; the file is complete after every ``write`` and the
    rows already on disk are never written again (``parquet_append``)."""

    suffix = ".parquet"

    def __init__(self, path: str | Path, columns: dict[str, str]):
        super().__init__(path, columns)
        import pyarrow as pa

        from emoscope.inference.parquet_append import ParquetAppender

        self._schema = pa.Schema.from_pandas(empty_table(columns), preserve_index=False)
        self._appender = ParquetAppender(self.path, self._schema)

    def write(self, batch: pd.DataFrame) -> None:
        if len(batch):
            import pyarrow as pa

            table = pa.Table.from_pandas(conform(batch, self.columns), schema=self._schema,
                                         preserve_index=False)
            self._appender.append(table)
            self.rows += len(batch)

    def close(self) -> Path:
        self._appender.close()
        return self.path


WRITERS: dict[str, Callable[[Path, dict[str, str]], TableWriter]] = {
    "csv": CsvWriter,
    "json": JsonWriter,
    "parquet": ParquetWriter,
}


def open_writer(path: str | Path, columns: dict[str, str], fmt: str) -> TableWriter:
    """A writer for ``fmt`` at ``path`` (suffix added when missing)."""
    if fmt not in WRITERS:
        raise UserError(f"unknown format '{fmt}'; known formats: {', '.join(WRITERS)}")
    path = Path(path)
    cls = WRITERS[fmt]
    if path.suffix != cls.suffix:
        path = path.with_name(path.name + cls.suffix)
    return cls(path, columns)


def table_columns(table: pd.DataFrame) -> dict[str, str]:
    """Column name -> dtype of ``table`` as the writers take them (text columns: ``string``)."""
    columns = {name: str(dtype) for name, dtype in table.dtypes.items()}
    return {k: ("string" if v in ("object", "str") else v) for k, v in columns.items()}


def write_table(table: pd.DataFrame, path: str | Path, fmt: str) -> Path:
    """Write a whole (small) table at once, e.g. a summary."""
    columns = table_columns(table)
    with open_writer(path, columns, fmt) as writer:
        writer.write(table)
    return writer.path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by these writers back into pandas."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        return pd.DataFrame.from_records(data["rows"], columns=data["columns"])
    return pd.read_csv(path)


def rows_to_frame(rows: list[dict[str, object]], columns: dict[str, str]) -> pd.DataFrame:
    if not rows:
        return empty_table(columns)
    frame = pd.DataFrame.from_records(rows)
    for name in columns:
        if name not in frame:
            frame[name] = np.nan
    return frame[list(columns)].astype(columns)
