"""``emoscope prepare emotic ROOT``: cache face boxes and face visibility once per dataset."""

from __future__ import annotations

from pathlib import Path

import typer

from emoscope.errors import UserError


def register(app: typer.Typer) -> None:
    prepare = typer.Typer(help="One-off dataset preparation (face boxes, caches).",
                          no_args_is_help=True)
    app.add_typer(prepare, name="prepare")
    from emoscope.cli.caer_cmd import register_prepare

    register_prepare(prepare)  # prepare caer-s

    @prepare.command("emotic")
    def emotic(
        root: str = typer.Argument(..., help="EMOTIC root (any of the three layouts)."),
        out: str = typer.Option(None, "--out", "-o",
                                 help="Face cache CSV (default: ROOT/emotic_faces.csv)."),
        detector: str = typer.Option("mediapipe", help="Face detector."),
        detector_opt: list[str] = typer.Option(  # noqa: B008
            None, "--detector-opt", help="Detector setting KEY=VALUE, e.g. model=full."),
        split: list[str] = typer.Option(  # noqa: B008
            None, "--split", help="Only these splits (repeatable; default: all)."),
        layout: str = typer.Option(None, help="mat, preprocessed or kaggle (default: detect)."),
        min_visibility: float = typer.Option(
            0.0, help="Faces with a lower visibility score (0-100) get no face box."),
    ) -> None:
        """Find the face inside each person's body box, score its visibility with a face mesh,
        write them as extra columns of a CSV cache and plot the visibility histogram."""
        from emoscope.cli.console import RichProgress
        from emoscope.config import parse_overrides
        from emoscope.data.emotic.prepare import prepare_emotic
        from emoscope.data.emotic.records import SPLITS

        splits = tuple(split) if split else SPLITS
        root = Path(root)
        if not root.exists():
            raise UserError(f"{root}: not found")
        bar = RichProgress()
        started = False

        def progress(done: int, total: int) -> None:
            nonlocal started
            if not started:
                bar.start("faces", total)
                started = True
            bar.advance()

        try:
            options = parse_overrides(detector_opt, "--detector-opt")
            report = prepare_emotic(root, out=out, detector=detector, detector_options=options,
                                    splits=splits, layout=layout,
                                    min_visibility=min_visibility, progress=progress)
        finally:
            bar.finish()
        typer.echo(f"{report.persons} person(s): {report.computed} computed, {report.reused} "
                   f"already cached, {report.with_face} with a face box -> {report.cache_path}")
        typer.echo(f"visibility histogram -> {report.histogram_path}")
        if report.unreadable:  # reported and skipped; a later run tries them again
            first, reason = next(iter(report.unreadable.items()))
            typer.echo(f"{len(report.unreadable)} unreadable image(s) skipped (e.g. {first}: "
                       f"{reason})")
