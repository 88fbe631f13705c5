"""``emoscope study STUDY.yaml``: a staged study (see ``emoscope.study``), e.g.

    emoscope study configs/study_emotic.yaml --trial data.root=DATA --parallel 2

Rerunning the same command resumes the study: finished trials are read back, not retrained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("study")
    def study_command(
        study: Annotated[Path, typer.Argument(help="Study YAML (see configs/study_*.yaml).")],
        overrides: Annotated[list[str] | None, typer.Option(
            "--set", help="Override a study key, e.g. --set set.data.root=DIR or "
            "--set out_dir=runs/s (repeatable).")] = None,
        trial: Annotated[list[str] | None, typer.Option(
            "--trial", help="Override a key of every trial, e.g. --trial data.root=DIR "
            "(repeatable; added to the study's 'set').")] = None,
        parallel: Annotated[int | None, typer.Option(
            "--parallel", min=1, help="Trials of a stage run in N processes (Ray).")] = None,
    ) -> None:
        """Run the stages of a study (an ablation) and report the chosen configuration.

        Writes per-stage and overall tables (markdown + CSV), a plot per stage, chosen.yaml
        and the test report of the chosen configuration.
        """
        from emoscope.config import parse_key_values
        from emoscope.study.runner import load_study, run_study

        items = list(overrides or []) + ([f"parallel={parallel}"] if parallel else [])
        cfg = load_study(study, items)
        cfg.set.update(parse_key_values(trial, "--trial"))
        result = run_study(cfg, study)
        for stage in result.stages:
            typer.echo(f"{stage.stage.name}: best {stage.best.label} "
                       f"({cfg.metric} {stage.best.score(cfg.metric):.4f}, "
                       f"trial {stage.best.key})")
        if result.test is not None:
            test = result.test
            vad = (test.get("vad_mae") or {}).get("mean")
            typer.echo(f"chosen configuration on {result.chosen['data']['test_split']}: "
                       f"mAP {100 * test['mAP']:.2f}"
                       + (f", VAD MAE {vad:.3f}" if vad is not None else "")
                       + f" ({test.get('n', 0)} persons)")
        typer.echo(f"results: {result.folder / 'results.md'}")
        typer.echo(f"chosen: {result.chosen_path}")
