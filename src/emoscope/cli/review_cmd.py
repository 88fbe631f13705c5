"""``emoscope review``: a grid of an EMOTIC model's predictions vs ground truth and one sheet
per sample, e.g.

    emoscope review --model RUN/model.json --root DATA --split test --pick worst --n 12
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("review")
    def review_command(
        model: Annotated[str, typer.Option("--model", help="A trained run's model.json or "
                                           ".ckpt.")],
        root: Annotated[Path, typer.Option("--root", help="EMOTIC root (any layout).")],
        split: Annotated[str, typer.Option("--split", help="Split to review.")] = "test",
        pick: Annotated[str, typer.Option(
            "--pick", help="random | best | worst | confident (by per-sample AP, or the "
            "highest probability).")] = "worst",
        n: Annotated[int, typer.Option("--n", min=1, help="Samples to show.")] = 8,
        out: Annotated[Path | None, typer.Option(
            "--out", help="Output folder (default: MODEL_FOLDER/review-SPLIT-PICK).")] = None,
        val_split: Annotated[str, typer.Option(
            "--val-split", help="Split the per-class thresholds are chosen on ('none': "
            "0.5).")] = "val",
        seed: Annotated[int, typer.Option("--seed", help="For --pick random.")] = 0,
        batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 64,
        device: Annotated[str, typer.Option("--device")] = "cpu",
    ) -> None:
        """Render predictions vs ground truth: grid.png, sample_NN.png, review.json."""
        from emoscope.errors import UserError
        from emoscope.evaluation.review import MODES, collect_review, write_review

        if pick not in MODES:
            raise UserError(f"--pick '{pick}'; known: {', '.join(MODES)}")
        folder = out if out is not None else Path(model).parent / f"review-{split}-{pick}"
        review = collect_review(model, root, split, val_split, batch_size, device)
        summary = write_review(review, folder, pick, n, seed)
        for entry in summary["samples"]:
            typer.echo(f"{entry['rank']:>2} {entry['key']}: AP {entry['sample_ap']:.3f}, "
                       f"F1 {entry['f1']:.3f}, true {', '.join(entry['true'])}")
        typer.echo(f"review: {folder / 'grid.png'} and {len(summary['samples'])} sheets")
