"""``emoscope evaluate``: one evaluator per training task (``training/tasks.py``), found through
the task that lists ``--dataset``; a new task registers its evaluator in ``EVALUATORS``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from emoscope.cli.console import print_report
from emoscope.errors import UserError


@dataclass
class EvaluateRequest:
    """The options of ``emoscope evaluate`` (see its help)."""

    model: str | None
    dataset: str
    root: Path
    split: str | None = None
    json_path: Path | None = None
    out: Path | None = None
    batch_size: int = 256
    device: str = "cpu"
    runtime: str = "auto"
    data: dict[str, Any] = field(default_factory=dict)
    tta_flip: bool = False
    max_per_emotion: int = 0
    frames_per_video: int = 10
    protocol: str = "registered"
    limit: int = 0


def evaluate_classification(r: EvaluateRequest) -> None:
    """Face-expression datasets: accuracy, macro-F1, per-class scores, confusion matrix."""
    from emoscope.evaluation.evaluate import evaluate_model, write_report
    from emoscope.evaluation.plots import plot_confusion

    split = r.split or "test"
    if r.protocol == "pipeline":
        from emoscope.cli.protocol_cmd import evaluate_pipeline_command

        evaluate_pipeline_command(r.model, r.dataset, r.root, split, r.json_path, r.out,
                                  r.batch_size, r.device, r.runtime, r.data, r.limit)
        return
    report = evaluate_model(r.model, r.dataset, r.root, split, tta_flip=r.tta_flip,
                            batch_size=r.batch_size, device=r.device, runtime=r.runtime,
                            dataset_kwargs=r.data)
    print_report(report)
    if r.json_path is not None:
        write_report(report, r.json_path)
        typer.echo(f"report: {r.json_path}")
    png = None
    if r.out is not None:
        png = r.out / "confusion.png"
    elif r.json_path is not None:
        png = r.json_path.with_name(f"{r.json_path.stem}_confusion.png")
    if png is not None:
        plot_confusion(report["confusion_matrix"], report["labels"], png,
                       title=f"{report['model']} on {r.dataset} {split}")
        typer.echo(f"confusion matrix: {png}")


def evaluate_speech(r: EvaluateRequest) -> None:
    from emoscope.cli.speech_cmd import evaluate_speech_command

    evaluate_speech_command(r.model, r.dataset, r.root, r.split, r.json_path, r.out,
                            r.batch_size, r.device, r.data, r.max_per_emotion,
                            r.frames_per_video, r.runtime)


def evaluate_clef(r: EvaluateRequest) -> None:
    from emoscope.cli.caer_cmd import evaluate_caer_command

    evaluate_caer_command(r.model, r.root, r.split or "test", r.json_path, r.batch_size,
                          r.device, r.data)


def evaluate_affwild2(r: EvaluateRequest) -> None:
    from emoscope.cli.affwild2_cmd import evaluate_affwild2_command

    evaluate_affwild2_command(r.model, r.root, r.split or "test", r.json_path, r.out,
                              r.batch_size, r.device, r.data)


def evaluate_emotic(r: EvaluateRequest) -> None:
    from emoscope.cli.emotic_cmd import evaluate_emotic_command

    evaluate_emotic_command(r.model, r.root, r.split or "test", r.json_path, r.out,
                            r.batch_size, r.device, r.data)


@dataclass(frozen=True)
class Evaluator:
    run: Callable[[EvaluateRequest], None]
    onnx: bool  # whether --runtime onnx can score this task's models


EVALUATORS: dict[str, Evaluator] = {
    "classification": Evaluator(evaluate_classification, onnx=True),
    "speech": Evaluator(evaluate_speech, onnx=True),
    "clef": Evaluator(evaluate_clef, onnx=False),
    "affwild2": Evaluator(evaluate_affwild2, onnx=False),
    "emotic": Evaluator(evaluate_emotic, onnx=False),
}


def evaluate(request: EvaluateRequest) -> None:
    """Score ``request.model`` with the evaluator of the task that lists ``request.dataset``."""
    from emoscope.training.tasks import task_of_dataset

    task = task_of_dataset(request.dataset)
    evaluator = EVALUATORS[task.name]
    if request.runtime == "onnx" and not evaluator.onnx:
        raise UserError(f"--runtime {request.runtime} is available for face-expression and "
                        f"speech datasets; evaluate {request.dataset} models with --runtime "
                        "torch")
    evaluator.run(request)
