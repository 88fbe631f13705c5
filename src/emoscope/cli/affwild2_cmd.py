"""Aff-Wild2 evaluation from the command line (``emoscope train`` finds ``task: affwild2``
YAMLs in training/tasks.py): ``emoscope evaluate --dataset affwild2`` prints and writes the
challenge metrics."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer

from emoscope.errors import UserError

log = logging.getLogger(__name__)


def evaluate_affwild2_command(model: str | None, root: Path, split: str | None,
                              json_path: Path | None, out: Path | None, batch_size: int,
                              device: str, dataset_kwargs: dict[str, Any]) -> None:
    """``emoscope evaluate --dataset affwild2``: challenge score, CCC, per-class P/R/F1,
    written as affwild2_metrics.txt/.json into --out (default: the model's folder)."""
    from emoscope.evaluation.affwild2 import evaluate_affwild2, format_report, write_report

    if model is None:
        raise UserError("--dataset affwild2 needs --model (a multi-task model, .ckpt or "
                        "ensemble); no multi-task model ships")
    if split in (None, "test"):  # the test labels of the challenge are not public
        log.info("Aff-Wild2 has no public test labels: scoring the validation split")
        split = "val"
    report = evaluate_affwild2(model, root, split, batch_size, device, dataset_kwargs)
    typer.echo(f"{report['model']} on Aff-Wild2 {split} ({report['counts']['frames']} frames)")
    typer.echo(format_report(report), nl=False)
    folder = out if out is not None else (json_path.parent if json_path is not None
                                          else Path(model).parent)
    text, data = write_report(report, folder)
    if json_path is not None and json_path != data:
        write_report(report, json_path.parent, stem=json_path.stem)
    typer.echo(f"report: {text} {data}")
