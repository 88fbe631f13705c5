"""``emoscope ensemble`` and ``emoscope soup``: one model file from several trained models or
checkpoints, averaging their probabilities or their weights."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

Members = Annotated[list[str], typer.Argument(
    help="Model files or checkpoints (.safetensors, .json or .ckpt); a soup's share one "
    "architecture.", show_default=False)]
OutFile = Annotated[Path, typer.Option(
    "--out", "-o", help="Model file to write (.safetensors + .json beside it).")]
CardName = Annotated[str | None, typer.Option(
    "--name", help="Name in the card (default: the file's name).")]


def register(app: typer.Typer) -> None:
    @app.command("ensemble")
    def ensemble_command(
        members: Members,
        out: OutFile = Path("ensemble.safetensors"),
        name: CardName = None,
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

    @app.command("soup")
    def soup_command(
        members: Members,
        out: OutFile = Path("soup.safetensors"),
        name: CardName = None,
        bn_root: Annotated[Path | None, typer.Option(
            "--bn-root", help="Re-estimate the batch-norm statistics on faces of this "
            "dataset root (default: keep the averaged statistics).")] = None,
        bn_dataset: Annotated[str, typer.Option(
            "--bn-dataset", help="Registered dataset of --bn-root.")] = "fer2013",
        bn_split: Annotated[str, typer.Option(
            "--bn-split", help="Split of --bn-root to draw faces from.")] = "train",
        bn_images: Annotated[int, typer.Option(
            "--bn-images", min=1, help="Faces drawn at random (seed 0) from that split; "
            "all of them when the split is smaller.")] = 8192,
    ) -> None:
        """Average the weights of several fine-tuned models into one network (a model soup).

        Unlike an ensemble it costs one model's time; it helps only when the models share an
        ancestor and stay close to it.
        """
        from emoscope.models.soup import save_soup

        images = None
        source = ""
        if bn_root is not None:
            images = _faces_for_batchnorm(bn_dataset, bn_root, bn_split, bn_images)
            source = f"{bn_dataset} {bn_split} ({bn_root})"
        path = save_soup(members, out, name, command=shlex.join(["emoscope", *sys.argv[1:]]),
                         bn_images=images, bn_source=source)
        note = f", batch norm re-estimated on {len(images)} faces" if images is not None else ""
        typer.echo(f"soup of {len(members)}{note}: {path} ({path.with_suffix('.json')})")


def _faces_for_batchnorm(dataset: str, root: Path, split: str, count: int):
    import numpy as np

    from emoscope.errors import UserError
    from emoscope.registry import DATASETS

    if not root.exists():
        raise UserError(f"{root}: dataset root not found")
    images = DATASETS.get(dataset)(root=root, split=split).images
    if len(images) > count:
        chosen = np.sort(np.random.default_rng(0).choice(len(images), count, replace=False))
        images = images[chosen]
    return images
