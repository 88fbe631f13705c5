"""``emoscope train`` and ``emoscope evaluate``: thin wrappers over the training and evaluation
library functions."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from emoscope.cli.console import print_training
from emoscope.config import parse_key_values
from emoscope.errors import UserError


def check_report_path(json_path: Path | None) -> None:
    """Refuse a ``--json`` that is an existing model card: the report would replace the card
    and leave its weights unloadable."""
    if json_path is None or not json_path.is_file():
        return
    import json

    from emoscope.models.files.checkpoint import CARD_FORMAT

    try:
        existing = json.loads(json_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return  # not JSON we recognise: an old report or any other file may be replaced
    if isinstance(existing, dict) and existing.get("format") == CARD_FORMAT:
        raise UserError(f"{json_path}: is a model card; --json would overwrite it (choose "
                        "another report file)")


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_command(
        config: Annotated[Path, typer.Argument(help="Experiment YAML (see configs/).")],
        overrides: Annotated[list[str] | None, typer.Option(
            "--set", help="Override a config value, e.g. --set optim.lr=3e-4 (repeatable).",
        )] = None,
        resume: Annotated[bool, typer.Option(
            "--resume", help="Continue the run from its last checkpoint.")] = False,
    ) -> None:
        """Train a model from a YAML config; writes checkpoints, metrics, plots and the model."""
        from emoscope.training.tasks import train_yaml

        command = shlex.join(["emoscope", "train", str(config),
                              *(f"--set={item}" for item in overrides or []),
                              *(["--resume"] if resume else [])])
        cfg, result = train_yaml(config, overrides, resume, command)  # through the task registry
        print_training(cfg, result)

    @app.command("evaluate")
    def evaluate_command(
        root: Annotated[Path, typer.Option("--root", help="Dataset folder (or fer2013.csv).")],
        model: Annotated[str | None, typer.Option(
            "--model", help="Shipped model name or a .safetensors/.json/.ckpt path; default: "
            "the shipped model for the task.")] = None,
        dataset: Annotated[str, typer.Option("--dataset", help="A registered dataset.")] = (
            "fer2013"),
        split: Annotated[str | None, typer.Option(
            "--split", help="Split to score (default test; folder layout: 'test' is every "
            "image under test/; RAVDESS/CREMA-D: every clip under the root).")] = None,
        json_path: Annotated[Path | None, typer.Option(
            "--json", help="Write the report as JSON here.")] = None,
        tta_flip: Annotated[bool, typer.Option(
            "--tta-flip", help="Average the scores of each face and its mirror image.")] = False,
        out: Annotated[Path | None, typer.Option(
            "--out", help="Folder for confusion.png (default: beside --json).")] = None,
        batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 256,
        device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1, ...")] = "cpu",
        runtime: Annotated[str, typer.Option(
            "--runtime", help="auto (ONNX Runtime for shipped models and without torch, else "
            "PyTorch), torch or onnx.")] = "auto",
        data: Annotated[list[str] | None, typer.Option(
            "--data", help="Dataset argument key=value, e.g. --data image_size=64 "
            "(repeatable).")] = None,
        max_per_emotion: Annotated[int, typer.Option(
            "--max-per-emotion", min=0, help="RAVDESS/CREMA-D: score at most N clips per "
            "emotion (seeded).")] = 0,
        frames_per_video: Annotated[int, typer.Option(
            "--frames-per-video", min=1, help="RAVDESS videos with a face model: frames "
            "sampled per clip.")] = 10,
        protocol: Annotated[str, typer.Option(
            "--protocol", help="registered: the dataset's face crops as they are; pipeline: "
            "each face set into a camera-like frame and found by the analyzer's detector "
            "(fer2013, ferplus).")] = "registered",
        limit: Annotated[int, typer.Option(
            "--limit", min=0, help="--protocol pipeline: score N faces spread over the split "
            "(0: all).")] = 0,
        cv: Annotated[int, typer.Option(
            "--cv", min=0, help="RAVDESS: retrain the model's recipe on each of 5 actor folds "
            "(01-04, ..., 17-20) and report mean and std (linear-head speech models).")] = 0,
    ) -> None:
        """Score a model on a dataset split (the metrics that dataset's field reports).

        Accuracy, macro-F1, per-class scores and the confusion matrix; on EMOTIC
        (--dataset emotic) mAP, per-class AP and VAD MAE. Written as
        evaluation_metrics.txt/.json into --out (default: the model's folder).
        """
        from emoscope.cli.evaluate_tasks import EvaluateRequest, evaluate
        from emoscope.cli.protocol_cmd import check_protocol

        check_report_path(json_path)
        check_protocol(protocol, dataset)
        if cv:
            from emoscope.cli.speech_cmd import evaluate_speech_cv_command

            evaluate_speech_cv_command(model, dataset, root, cv, json_path, split)
            return
        evaluate(EvaluateRequest(model, dataset, root, split, json_path, out, batch_size, device,
                                 runtime, parse_key_values(data, "--data"), tta_flip,
                                 max_per_emotion, frames_per_video, protocol, limit))
