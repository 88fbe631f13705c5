"""``emoscope evaluate --protocol pipeline``: faces set into frames, through the analyzer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from emoscope.errors import UserError


def check_protocol(protocol: str, dataset: str) -> None:
    from emoscope.study.pipeline_protocol import PIPELINE_DATASETS, PROTOCOLS

    if protocol not in PROTOCOLS:
        raise UserError(f"unknown protocol '{protocol}'; use {' or '.join(PROTOCOLS)}")
    if protocol == "pipeline" and dataset not in PIPELINE_DATASETS:
        raise UserError(f"--protocol pipeline scores {' or '.join(PIPELINE_DATASETS)} faces; "
                        f"got dataset '{dataset}'")


def evaluate_pipeline_command(model: str | None, dataset: str, root: Path, split: str,
                              json_path: Path | None, out: Path | None, batch_size: int,
                              device: str, runtime: str, data: dict[str, Any],
                              limit: int) -> None:
    """Run the pipeline protocol, print its summary, write the JSON report and confusion PNG."""
    from emoscope.evaluation.evaluate import write_report
    from emoscope.evaluation.plots import plot_confusion
    from emoscope.study.pipeline_protocol import evaluate_pipeline

    report = evaluate_pipeline(model, dataset, root, split, limit=limit or None,
                               dataset_kwargs=data, batch_size=batch_size, device=device,
                               runtime=runtime)
    print_pipeline_report(report)
    if json_path is not None:
        write_report(report, json_path)
        typer.echo(f"report: {json_path}")
    png = out / "confusion_pipeline.png" if out is not None else (
        json_path.with_name(f"{json_path.stem}_confusion.png") if json_path else None)
    if png is not None:
        png.parent.mkdir(parents=True, exist_ok=True)
        plot_confusion(report["confusion_matrix"], report["labels"], png,
                       title=f"{report['model']} on {dataset} {split}, pipeline "
                       f"(detected faces)")
        typer.echo(f"confusion matrix: {png}")


def print_pipeline_report(report: dict[str, Any]) -> None:
    """Per-class recall through the pipeline and the summary line."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report['model']} on {report['dataset']} {report['split']}, "
                  "pipeline protocol")
    for column in ("class", "detected", "recall", "recall (detected)", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for label, row in report["per_class"].items():
        table.add_row(label, f"{row['detected']:.3f}", f"{row['recall']:.3f}",
                      f"{row['recall_detected']:.3f}", str(row["support"]))
    console = Console()
    console.print(table)
    ece = f", ECE {report['ece']:.4f}" if "ece" in report else ""
    console.print(f"accuracy {report['accuracy']:.2%} (undetected count wrong), detected "
                  f"{report['detected']:.2%}, accuracy on detected "
                  f"{report['accuracy_detected']:.2%}{ece}, {report['n']} faces")
