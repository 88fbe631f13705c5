"""Cost of one flush of the result table as the file grows, per format; prints a Markdown
table. Measure on a quiet machine: other processes change the milliseconds, not the trend.

    python benchmarks/bench_writers.py [--rows 38400] [--batch 64]

Writes ``--rows`` face rows (the shipped model's columns) in flushes of ``--batch`` rows and
reports the mean time of a flush over the first ten and over the last ten, and the total.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from emoscope.inference.writers import WRITERS, open_writer, result_columns
from emoscope.labels import FER2013_LABELS


def _batch(columns: dict[str, str], start: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(start)
    data = {name: (rng.random(n) if dtype == "float64" else np.arange(start, start + n)
                   if dtype == "int64" else ["happy"] * n) for name, dtype in columns.items()}
    return pd.DataFrame(data).astype(columns)


def measure(fmt: str, rows: int, batch: int, folder: Path) -> tuple[float, float, float]:
    columns = result_columns(FER2013_LABELS.labels)
    batches = [_batch(columns, k, batch) for k in range(0, rows, batch)]
    seconds = []
    with open_writer(folder / f"bench_{fmt}", columns, fmt) as writer:
        for frame in batches:
            started = time.perf_counter()
            writer.write(frame)
            seconds.append(time.perf_counter() - started)
    return 1e3 * np.mean(seconds[:10]), 1e3 * np.mean(seconds[-10:]), sum(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=38_400)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    print(f"| format | first flushes (ms) | last flushes (ms) | {args.rows} rows (s) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for fmt in WRITERS:
            first, last, total = measure(fmt, args.rows, args.batch, Path(folder))
            print(f"| {fmt} | {first:.2f} | {last:.2f} | {total:.2f} |")


if __name__ == "__main__":
    main()
