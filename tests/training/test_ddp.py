"""Lightning DDP through the normal config (``trainer.strategy=ddp``, ``trainer.devices=2``):
two CPU processes with the gloo backend see different halves of the data, the logged
validation metrics are those of the union, and only rank 0 writes the run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from synthetic_faces import write_fer2013_folders

SCRIPT = Path(__file__).with_name("ddp_run.py")


def _records(log_dir: Path, name: str, rank: int) -> list[dict]:
    path = log_dir / f"{name}-rank{rank}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
def test_two_process_ddp_reduces_metrics_and_only_rank_zero_writes(tmp_path):
    data = write_fer2013_folders(tmp_path / "fer2013", train_per_class=8, test_per_class=8,
                                 seed=5)  # 56 validation faces: 28 per process, no padding
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo",
           "MASTER_ADDR": "127.0.0.1"}
    done = subprocess.run([sys.executable, str(SCRIPT), str(data.root), str(tmp_path / "runs"),
                           str(log_dir)], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs" / "tiny"

    # only rank 0 wrote emoscope's outputs; rank 1 ran the same code and wrote nothing
    assert _records(log_dir, "writes", 1) == []
    written = {Path(r["path"]).name for r in _records(log_dir, "writes", 0)}
    assert {"config.yaml", "model.safetensors", "model.json", "final_metrics.json",
            "val_report.json", "history.png", "confusion.png"} <= written
    for name in ("config.yaml", "metrics.csv", "checkpoints/best.ckpt", "model.safetensors"):
        assert (run / name).is_file(), name
    assert _records(log_dir, "result", 1)[0]["metrics"] == {}  # rank 1 returns no scores

    # each process scored its own half of the validation faces, every epoch
    seen: dict[int, dict[int, list[str]]] = {0: defaultdict(list), 1: defaultdict(list)}
    stats: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for rank in (0, 1):
        for record in _records(log_dir, "val", rank):
            if record["sanity"]:
                continue
            seen[rank][record["epoch"]] += record["faces"]
            for key in ("correct", "loss_sum"):
                stats[record["epoch"]][key] += record[key]
                stats[record["epoch"]][f"{key}_rank{rank}"] += record[key]
    last = max(seen[0])
    assert last == 1 and sorted(seen[1]) == [0, 1]
    half0, half1 = set(seen[0][last]), set(seen[1][last])
    assert len(seen[0][last]) == len(seen[1][last]) == 28 and not half0 & half1
    assert len(half0 | half1) == 56

    # the logged epoch metrics are those of all 56 faces, not of rank 0's 28 (the fixture's
    # halves differ, so a metric left unreduced would not match)
    logged = json.loads((run / "final_metrics.json").read_text())["last"]
    union, rank0 = stats[last]["correct"] / 56, stats[last]["correct_rank0"] / 28
    assert abs(union - rank0) > 0.01 and logged["val/accuracy"] == pytest.approx(union, abs=1e-6)
    union, rank0 = stats[last]["loss_sum"] / 56, stats[last]["loss_sum_rank0"] / 28
    assert abs(union - rank0) > 2e-5 and logged["val/loss"] == pytest.approx(union, abs=2e-6)
    report = json.loads((run / "val_report.json").read_text())
    assert report["n"] == 56  # the exported model is scored on the whole split by rank 0
