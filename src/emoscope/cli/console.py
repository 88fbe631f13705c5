"""What the commands print: progress bars, error lines, analysis summaries, report and metric
tables. Every command module imports these from here, so no command imports another for them."""

from __future__ import annotations

import sys
from typing import Any

import typer

from emoscope.errors import UserError


class RichProgress:
    """Per-file progress bars on a terminal; silent when stdout is not a TTY."""

    def __init__(self) -> None:
        self._bar = None
        self._task = None
        self.enabled = sys.stdout.isatty()

    def start(self, name: str, total: int | None) -> None:
        if not self.enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                             MofNCompleteColumn(), TimeElapsedColumn(), transient=True)
        self._bar.start()
        self._task = self._bar.add_task(name, total=total)

    def advance(self, frames: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, frames)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def print_error(message: str) -> None:
    """One `error: ...` line on stderr."""
    typer.echo(f"error: {message}", err=True)


def print_analysis(report) -> None:
    """One line per analysed input; exit 1 when some inputs failed, a UserError when all did."""
    for item in report.inputs:
        if item.ok:
            table = next((f for f in item.files if f.suffix in (".csv", ".json", ".parquet")),
                         None)
            where = f" -> {table}" if table else ""
            found = [f"{item.frames} frame(s), {item.faces} face(s)"] if item.frames else []
            if item.voice_windows or not found:
                found.append(f"{item.voice_windows} voice window(s)")
            typer.echo(f"{item.path}: {', '.join(found)}{where}")
    if report.analysed == 0:
        raise UserError(f"nothing could be analysed ({len(report.inputs)} input(s) failed)")
    failed = len(report.inputs) - report.analysed
    # files inside a folder that failed while others in it were analysed
    inside = sum(len(item.errors) for item in report.inputs if item.ok)
    if failed or inside:  # the others' results are written; a script still learns of the rest
        parts = [f"{failed} of {len(report.inputs)} input(s)"] if failed else []
        parts += [f"{inside} file(s) inside folders"] if inside else []
        typer.echo(f"{' and '.join(parts)} could not be analysed (exit 1)", err=True)
        raise typer.Exit(1)


def console():
    from rich.console import Console

    return Console()


def print_report(report: dict[str, Any]) -> None:
    """Per-class table, summary line and confusion matrix of an evaluation report."""
    from rich.table import Table

    title = f"{report.get('model', '?')} on {report.get('dataset', '?')} {report.get('split', '')}"
    table = Table(title=title)
    for column in ("class", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for label, row in report["per_class"].items():
        table.add_row(label, f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                      f"{row['f1']:.3f}", str(row["support"]))
    table.add_section()
    table.add_row("accuracy", "", "", f"{report['accuracy']:.4f}", str(report["n"]))
    table.add_row("macro avg", "", "", f"{report['macro_f1']:.4f}", str(report["n"]))
    out = console()
    out.print(table)
    matrix = Table(title="confusion matrix (rows: true, columns: predicted)")
    matrix.add_column("")
    for label in report["labels"]:
        matrix.add_column(label[:8], justify="right")
    for label, row in zip(report["labels"], report["confusion_matrix"], strict=True):
        matrix.add_row(label, *(str(v) for v in row))
    out.print(matrix)
    flip = " with flip TTA" if report.get("tta_flip") else ""
    unit = "clips" if "clips_per_second" in report else "faces"
    speed = report.get(f"{unit}_per_second", 0)
    out.print(f"accuracy {report['accuracy']:.2%}{flip}, macro-F1 {report['macro_f1']:.4f}, "
                  f"{report['n']} {unit}, {speed:.0f} {unit}/s")


def print_training(cfg: Any, result: Any) -> None:
    """What ``emoscope train`` prints of any task's run: the best scores (of each ensemble
    member too), the model file and the run folder."""
    members = getattr(result, "members", [])
    ensemble = len(members) > 1
    for member in members if ensemble else []:
        print_metrics(f"{member.run_dir.name}: best epoch on {cfg.data.val_split}",
                      member.metrics)
    print_metrics(f"{cfg.name}: {'ensemble' if ensemble else 'best epoch'} on "
                  f"{cfg.data.val_split}", result.metrics)
    typer.echo(f"model: {result.model_path}")
    typer.echo(f"run: {result.run_dir}")


def print_metrics(title: str, metrics: dict[str, Any]) -> None:
    """A two-column table of a run's best scores."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console().print(table)
