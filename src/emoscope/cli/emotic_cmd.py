"""EMOTIC from the command line (``emoscope train`` finds EMOTIC YAMLs in training/tasks.py):
``emoscope evaluate --dataset emotic``, and ``emoscope train-emotic`` accepts the study's
flags as written, e.g.

    emoscope train-emotic --data_path DATA --context_model swin --body_model swin \\
        --face_model efficientnet_b7 --fusion weighted --loss discrete --epochs 20 \\
        --context_aug_level basic --body_aug_level basic --face_aug_level basic \\
        --ablation all --model_dir ./results/

Each flag sets one key of the EMOTIC config (``emotic_config.STUDY_FLAGS``) on top of
``--config`` (default: the ``EmoticConfig`` defaults), then ``--set key=value`` overrides
apply. Unless ``--set name=...`` is given, the run is named after its trial (backbones, fusion,
loss, ablation), so several trials can share one ``--model_dir``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from emoscope.errors import UserError


def trial_name(cfg: Any) -> str:
    """``context-body-face_fusion_loss_ablation`` from an EMOTIC config (absent streams: -)."""
    m = cfg.model
    backbones = "-".join(getattr(m, s).backbone or "none" for s in ("context", "body", "face"))
    return f"{backbones}_{m.fusion}_{cfg.loss.categorical}_{m.ablation}".replace("/", "-")


def run_emotic(config: Path | None, overrides: list[str] | None, resume: bool,
               command: str, name_trial: bool = False) -> None:
    """Merge an EMOTIC config and train it; prints the best scores and the outputs.
    name_trial: name the run by ``trial_name`` unless an override sets ``name``."""
    from emoscope.cli.console import print_training
    from emoscope.config import merge_config
    from emoscope.training.emotic_config import EmoticConfig
    from emoscope.training.train_emotic import train_emotic

    cfg = merge_config(EmoticConfig, config, overrides)
    if name_trial and not any(item.startswith("name=") for item in overrides or []):
        cfg.name = trial_name(cfg)
    print_training(cfg, train_emotic(cfg, resume=resume, command=command))


def evaluate_emotic_command(model: str | None, root: Path, split: str, json_path: Path | None,
                            out: Path | None, batch_size: int, device: str,
                            dataset_kwargs: dict[str, Any]) -> None:
    """``emoscope evaluate --dataset emotic``: print and write mAP, per-class AP, VAD MAE."""
    from emoscope.evaluation.multilabel import format_report, write_report
    from emoscope.evaluation.report import emotic_report

    if model is None:
        raise UserError("--dataset emotic needs --model (a trained run's model.json or .ckpt)")
    folder = out if out is not None else (json_path.parent if json_path is not None
                                          else Path(model).parent)
    # the full report (thresholds chosen on val, PR curves, ...) goes to FOLDER/report/
    report = emotic_report(model, root, split, folder / "report", "val", batch_size, device,
                           dataset_kwargs)
    typer.echo(f"{report['model']} on EMOTIC {split} ({report['n']} persons)")
    typer.echo(format_report(report), nl=False)
    text, data = write_report(report, folder)
    if json_path is not None and json_path != data:
        write_report(report, json_path.parent, stem=json_path.stem)
    typer.echo(f"report: {text} {data}")
    typer.echo(f"full report: {report['files']['markdown']}")


def opt(flag: str, help_text: str):
    """A typer option spelt exactly as the study's scripts spell it (underscores)."""
    return typer.Option(flag, help=help_text)


def register(app: typer.Typer) -> None:
    @app.command("train-emotic")
    def train_emotic_command(
        data_path: Annotated[str | None, opt("--data_path", "EMOTIC root (data.root).")] = None,
        context_model: Annotated[str | None, opt(
            "--context_model", "Context backbone (timm name or alias: swin, deit...).")] = None,
        body_model: Annotated[str | None, opt("--body_model", "Body backbone.")] = None,
        face_model: Annotated[str | None, opt("--face_model", "Face backbone.")] = None,
        fusion: Annotated[str | None, opt("--fusion", "A FUSIONS name.")] = None,
        loss: Annotated[str | None, opt("--loss", "Categorical loss (a LOSSES name).")] = None,
        epochs: Annotated[int | None, opt("--epochs", "trainer.max_epochs")] = None,
        batch_size: Annotated[int | None, opt("--batch_size", "trainer.batch_size")] = None,
        lr: Annotated[float | None, opt("--lr", "optim.lr")] = None,
        context_aug_level: Annotated[str | None, opt("--context_aug_level",
                                                     "none | basic | full")] = None,
        body_aug_level: Annotated[str | None, opt("--body_aug_level", "none|basic|full")] = None,
        face_aug_level: Annotated[str | None, opt("--face_aug_level", "none|basic|full")] = None,
        ablation: Annotated[str | None, opt("--ablation", "all, context, body, face, "
                                            "context_body, context_face, body_face")] = None,
        model_dir: Annotated[str | None, opt("--model_dir", "Output folder (out_dir).")] = None,
        config: Annotated[Path | None, opt("--config", "EMOTIC YAML to start from.")] = None,
        overrides: Annotated[list[str] | None, opt("--set", "Override key=value.")] = None,
        resume: Annotated[bool, typer.Option("--resume", help="Continue the run.")] = False,
    ) -> None:
        """Train on EMOTIC with the study's flags (mapped onto the EMOTIC config)."""
        from emoscope.training.emotic_config import study_overrides

        flags = {"data_path": data_path, "context_model": context_model,
                 "body_model": body_model, "face_model": face_model, "fusion": fusion,
                 "loss": loss, "epochs": epochs, "batch_size": batch_size, "lr": lr,
                 "context_aug_level": context_aug_level, "body_aug_level": body_aug_level,
                 "face_aug_level": face_aug_level, "ablation": ablation, "model_dir": model_dir}
        items = study_overrides(flags) + list(overrides or [])
        run_emotic(config, items, resume, shlex.join(["emoscope", *sys.argv[1:]]),
                   name_trial=True)
