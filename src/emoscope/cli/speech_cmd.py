"""Speech pieces of ``emoscope train`` / ``emoscope evaluate`` (``task: speech`` YAMLs and
``--dataset ravdess`` / ``crema_d``)."""

from __future__ import annotations

from pathlib import Path

import typer


def run_speech_training(config: Path, overrides: list[str] | None, resume: bool,
                        command: str) -> None:
    """``emoscope train <speech YAML>``: train, print the best validation scores."""
    from emoscope.cli.train_cmd import print_metrics
    from emoscope.config import merge_config
    from emoscope.training.speech_config import SpeechTrainConfig
    from emoscope.training.speech_train import train_speech

    cfg = merge_config(SpeechTrainConfig, config, overrides)
    result = train_speech(cfg, resume=resume, command=command)
    print_metrics(f"{cfg.name}: best epoch on {cfg.data.val_split}", result.metrics)
    typer.echo(f"model: {result.model_path}")
    typer.echo(f"run: {result.run_dir}")
