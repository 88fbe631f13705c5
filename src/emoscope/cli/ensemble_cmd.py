"""``emoscope ensemble``: one model file averaging several trained models or checkpoints."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("ensemble")
    def ensemble_command(
        members: Annotated[list[str], typer.Argument(
            help="Model files or checkpoints (.safetensors, .json or .ckpt) to average.",
            show_default=False)],
        out: Annotated[Path, typer.Option(
            "--out", "-o", help="Ensemble file to write (.safetensors + .json beside it).")] = (
            Path("ensemble.safetensors")),
        name: Annotated[str | None, typer.Option(
            "--name", help="Name in the card (default: the file's name).")] = None,
        precision: Annotated[str, typer.Option(
            "--precision", help="How the weights are stored: float32, float16 (half the size) "
            "or int8 (convolution and linear weights in a quarter).")] = "float32",
        half: Annotated[bool, typer.Option(
            "--half", help="Shorthand for --precision float16.")] = False,
    ) -> None:
        """Average several models' probabilities (and valence/arousal, action units).

        The result loads wherever a model does (analyze, webcam, evaluate).
        """
        from emoscope.errors import UserError
        from emoscope.models.ensemble import save_ensemble

        if half and precision not in ("float32", "float16"):
            raise UserError(
                f"--half means --precision float16; it contradicts --precision {precision}")
        path = save_ensemble(members, out, name,
                             command=shlex.join(["emoscope", *sys.argv[1:]]),
                             precision="float16" if half else precision)
        typer.echo(f"ensemble of {len(members)}: {path} ({path.with_suffix('.json')})")
