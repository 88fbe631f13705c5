"""CAER-S and CLEF from the command line:

    emoscope prepare caer-s ROOT                 # detect + cache {split}_face_coords.json
    emoscope train configs/clef_caer_s.yaml --set data.root=ROOT        # task: clef
    emoscope evaluate --dataset caer_s --root ROOT --model RUN/model.json
    emoscope context-report --root ROOT --control FACE_ONLY/model.json RUN/model.json ...

``emoscope train`` finds ``task: clef`` YAMLs in training/tasks.py; ``emoscope evaluate
--dataset caer_s`` prints every head (factual, factual_model, context, tie) side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from emoscope.errors import UserError


def format_heads(report: dict[str, Any]) -> str:
    """The side-by-side table of every head's accuracy and macro-F1."""
    from emoscope.evaluation.counterfactual import side_by_side

    score = "accuracy" if "accuracy" in report else "mAP"
    rows = side_by_side(report)
    # multi-label heads (CLEF on EMOTIC) have mAP and no macro-F1: no column of nan
    with_f1 = any(f1 == f1 for _, _, f1 in rows)
    lines = [f"{'head':<14}{score:>10}" + (f"{'macro-F1':>10}" if with_f1 else "")]
    for head, accuracy, macro_f1 in rows:
        mark = "  <- debiased" if head == "tie" else ""
        f1 = f"{macro_f1:>10.4f}" if with_f1 else ""
        lines.append(f"{head:<14}{accuracy:>10.4f}{f1}{mark}")
    return "\n".join(lines) + "\n"


def evaluate_caer_command(model: str | None, root: Path, split: str, json_path: Path | None,
                          batch_size: int, device: str, dataset_kwargs: dict[str, Any]) -> None:
    """``emoscope evaluate --dataset caer_s`` (or ``emotic_clef`` for a CLEF model trained on
    EMOTIC): every head side by side, optionally as JSON."""
    from emoscope.evaluation.counterfactual import evaluate_caer
    from emoscope.evaluation.evaluate import write_report

    if model is None:
        raise UserError("--dataset caer_s needs --model (a trained run's model.json or .ckpt)")
    report = evaluate_caer(model, root, split, batch_size, device, dataset_kwargs)
    typer.echo(f"{report['model']} on {report['dataset']} {split} ({report['n']} samples)")
    typer.echo(format_heads(report), nl=False)
    if json_path is not None:
        write_report(report, json_path)
        typer.echo(f"report: {json_path}")


def register_prepare(prepare: typer.Typer) -> None:
    """Adds ``prepare caer-s`` to the ``prepare`` command group."""

    @prepare.command("caer-s")
    def caer_s(
        root: str = typer.Argument(..., help="CAER-S root (holding train/ and test/)."),
        detector: str = typer.Option("mediapipe", help="Face detector."),
        detector_opt: list[str] = typer.Option(  # noqa: B008
            None, "--detector-opt", help="Detector setting KEY=VALUE, e.g. model=full."),
        split: list[str] = typer.Option(  # noqa: B008
            None, "--split", help="Only these splits (repeatable; default: train, test)."),
    ) -> None:
        """Detect the subject's face in every frame (the largest face) and cache the boxes in
        ROOT/{split}_face_coords.json; frames already in the file are kept."""
        from emoscope.cli.console import RichProgress
        from emoscope.config import parse_overrides
        from emoscope.data.caer_faces import detect_face_coords
        from emoscope.data.caer_s import find_root, scan_split
        from emoscope.faces.detectors.base import build_detector

        base = find_root(root)
        splits = tuple(split) if split else ("train", "test")
        images = {s: [rel for rel, _ in scan_split(base, s)] for s in splits}
        options = parse_overrides(detector_opt, "--detector-opt")
        with build_detector(detector, **options) as face_detector:
            for name in splits:
                bar = RichProgress()
                bar.start(f"{name} faces", len(images[name]))
                try:
                    path, computed, reused, with_face = detect_face_coords(
                        base, name, images[name], face_detector,
                        progress=lambda done, total, bar=bar: bar.advance())
                finally:
                    bar.finish()
                typer.echo(f"{name}: {len(images[name])} frame(s): {computed} computed, "
                           f"{reused} already cached, {with_face} with a face -> {path}")


def register(app: typer.Typer) -> None:
    @app.command("context-report")
    def context_report_command(
        models: Annotated[list[str], typer.Argument(help="Trained CAER-S / CLEF models "
                                                     "(model.json or .ckpt).")],
        root: Annotated[Path, typer.Option("--root", help="The dataset the models were "
                                           "trained on (CAER-S, or EMOTIC for CLEF).")],
        control: Annotated[str, typer.Option("--control", help="The face-only control "
                                             "(configs/caer_s_face_only.yaml's model).")],
        split: Annotated[str, typer.Option("--split")] = "test",
        json_path: Annotated[Path | None, typer.Option("--json", help="Write rows and "
                                                       "reports as JSON here.")] = None,
        batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 64,
        device: Annotated[str, typer.Option("--device")] = "cpu",
    ) -> None:
        """Every head of every model next to the face-only control, with the gain over it."""
        from emoscope.evaluation.counterfactual import context_report
        from emoscope.evaluation.evaluate import write_report

        report = context_report(models, control, root, split, batch_size, device)
        metric = report["metric"]
        typer.echo(f"{'model':<28}{'head':<20}{metric:>10}{'macro-F1':>10}{'vs control':>12}")
        for row in report["rows"]:
            f1 = "" if row["macro_f1"] is None else f"{row['macro_f1']:.4f}"
            typer.echo(f"{row['model'][:27]:<28}{row['head']:<20}{row[metric]:>10.4f}"
                       f"{f1:>10}{row['vs_control']:>+12.4f}")
        if json_path is not None:
            write_report(report, json_path)
            typer.echo(f"report: {json_path}")
