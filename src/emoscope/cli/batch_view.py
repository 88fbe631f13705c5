"""``emoscope analyze --engine ray``: runs ``inference/batch_ray.py`` and prints its summary."""

from __future__ import annotations

import typer

from emoscope.errors import UserError


def run_ray_command(inputs: list[str], options, engine: str, address: str | None,
                    workers: int, retries: int) -> None:
    from emoscope.cli.console import RichProgress, print_analysis, print_error
    from emoscope.inference.batch_ray import ENGINES, BatchOptions, run_batch

    if engine not in ENGINES:
        raise UserError(f"unknown engine '{engine}'; use {' or '.join(ENGINES)}")
    batch = run_batch(inputs, options, BatchOptions(address, workers, retries),
                      progress=RichProgress(), on_error=print_error)
    print_summary(batch.files)
    typer.echo(f"summary: {batch.summary_path}")
    print_analysis(batch.analysis)


def print_summary(files) -> None:
    """One row per input: status, rows, frames, seconds, attempts, worker."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="batch analysis")
    for column in ("input", "status", "rows", "frames", "seconds", "attempts", "worker"):
        table.add_column(column, justify="left" if column in ("input", "status", "worker")
                         else "right")
    for item in files:
        table.add_row(item.input, item.status, str(item.rows), str(item.frames),
                      f"{item.seconds:.2f}", str(item.attempts), item.worker)
    ok = sum(item.status == "ok" for item in files)
    seconds = sum(item.seconds for item in files)
    table.add_section()
    table.add_row(f"{ok}/{len(files)} analysed", "", str(sum(i.rows for i in files)),
                  str(sum(i.frames for i in files)), f"{seconds:.2f}", "", "")
    Console().print(table)
