"""Batch analysis of many files: one process against ``--engine ray`` with 1 and 2 workers;
prints a Markdown table.

    python benchmarks/bench_batch.py [--files 8] [--seconds 4]

Inputs: ``--files`` videos (640x360, 15 fps, ``--seconds`` long, one face rendered from
scikit-image's astronaut). Every row is the wall time of the whole call, Ray's cluster start
and each worker's model loading included; ratios are against the single-process run
measured in the same run. The last column checks that every output table equals the
single-process one.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import emoscope  # noqa: F401  (sets OMP_WAIT_POLICY before anything loads torch)


def _videos(folder: Path, count: int, seconds: float) -> list[Path]:
    from emoscope.inference.demo import astronaut, camera_path, write_video

    frames = camera_path(astronaut(), 640, 360, int(seconds * 15))
    first = write_video(frames, folder / "clip00.mp4", fps=15)
    paths = [first]
    for i in range(1, count):  # same content, own files: each is a separate input
        paths.append(folder / f"clip{i:02d}.mp4")
        paths[-1].write_bytes(first.read_bytes())
    return paths


def _same_tables(a: Path, b: Path, stems: list[str]) -> bool:
    from emoscope.inference.writers import read_table

    return all(read_table(a / f"{s}.csv").equals(read_table(b / f"{s}.csv")) for s in stems)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each video")
    args = parser.parse_args()

    from emoscope.inference.analyze import AnalyzeOptions, run_analysis
    from emoscope.inference.batch_ray import BatchOptions, run_batch

    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-batch-", dir="/tmp") as tmp:
        root = Path(tmp)
        inputs = [str(p) for p in _videos(root, args.files, args.seconds)]
        stems = [Path(p).stem for p in inputs]
        start = time.perf_counter()
        run_analysis(inputs, AnalyzeOptions(out=str(root / "single"), plots=False))
        base = time.perf_counter() - start
        rows.append(("one process (--engine local) [baseline]", base, "-"))
        for workers in (1, 2):
            out = root / f"ray{workers}"
            start = time.perf_counter()
            run_batch(inputs, AnalyzeOptions(out=str(out), plots=False),
                      BatchOptions(workers=workers))
            seconds = time.perf_counter() - start
            same = "yes" if _same_tables(root / "single", out, stems) else "NO"
            rows.append((f"--engine ray --workers {workers}", seconds, same))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"load average before the run {load:.2f}")
    print(f"inputs: {args.files} videos, 640x360, 15 fps, {args.seconds:g} s, one face\n")
    print("| engine | seconds | files/s | ratio | tables identical |")
    print("|---|---|---|---|---|")
    for name, seconds, same in rows:
        print(f"| {name} | {seconds:.1f} | {args.files / seconds:.2f} | "
              f"{base / seconds:.2f}x | {same} |")


if __name__ == "__main__":
    main()
