"""Speech pieces of ``emoscope evaluate`` (``--dataset ravdess`` / ``crema_d``); ``emoscope
train`` finds ``task: speech`` YAMLs in training/tasks.py."""

from __future__ import annotations

from pathlib import Path

import typer

SPEECH_DATASETS = ("ravdess", "crema_d")


def evaluate_speech_command(model: str | None, dataset: str, root: Path, split: str | None,
                            json_path: Path | None, out: Path | None, batch_size: int,
                            device: str, data_kwargs: dict, max_per_emotion: int,
                            frames_per_video: int, runtime: str = "torch") -> None:
    """``emoscope evaluate --dataset ravdess|crema_d``: a speech model on the clips' audio, or
    a face model (``--model fer2013-lite0``) on RAVDESS videos; without ``--split`` every clip
    under the root. Writes the JSON report, confusion matrix and predictions CSV."""
    from emoscope.cli.console import print_report
    from emoscope.evaluation.evaluate import write_report
    from emoscope.evaluation.plots import plot_confusion
    from emoscope.evaluation.speech import evaluate_speech_model, write_predictions

    split = split or "all"
    kwargs = dict(data_kwargs)
    if max_per_emotion > 0:
        kwargs["max_per_emotion"] = max_per_emotion
    if _is_face_model(model):
        from emoscope.study.ravdess_video import evaluate_face_model_on_videos

        report = evaluate_face_model_on_videos(model, root, split, frames_per_video,
                                               batch_size, device, kwargs)
    else:
        report = evaluate_speech_model(model, dataset, root, split, batch_size=batch_size,
                                       device=device, dataset_kwargs=kwargs, runtime=runtime)
    predictions = report.pop("predictions")
    print_report({**report, "faces_per_second": report.get("clips_per_second", 0)})
    typer.echo(f"UAR {report['uar']:.2%} over {len(report['labels'])} classes")
    folder = out if out is not None else (json_path.parent if json_path is not None else None)
    if folder is None:
        return
    stem = json_path.stem if json_path is not None else "evaluation"
    json_path = json_path or folder / f"{stem}.json"
    write_report(report, json_path)
    csv_path = write_predictions(predictions, folder / f"{stem}_predictions.csv")
    png = plot_confusion(report["confusion_matrix"], report["labels"],
                         folder / f"{stem}_confusion.png",
                         title=f"{report['model']} on {dataset} {split}")
    typer.echo(f"report: {json_path}\npredictions: {csv_path}\nconfusion matrix: {png}")


def _is_face_model(model: str | None) -> bool:
    if model is None:
        return False
    from emoscope.models.files.checkpoint import read_card
    from emoscope.models.files.zoo import resolve_model_path

    path = resolve_model_path(model, "speech_emotion")
    if path.suffix == ".ckpt":
        return False
    return read_card(path).task == "face_expression"


def evaluate_speech_cv_command(model: str | None, dataset: str, root: Path, folds: int,
                               json_path: Path | None, split: str | None) -> None:
    """``emoscope evaluate --dataset ravdess --cv 5``: the model's recipe retrained on every
    actor fold; prints and writes mean and std of accuracy and UAR (8 and 7 classes)."""
    from emoscope.errors import UserError
    from emoscope.evaluation.speech_cv import cross_validate_model
    from emoscope.utils.files import atomic_write_json

    if dataset != "ravdess":
        raise UserError(f"--cv is the RAVDESS actor protocol; got --dataset {dataset}")
    if split not in (None, "all"):
        raise UserError("--cv uses every clip of actors 01-20; leave out --split")
    report = cross_validate_model(model, root, folds)
    for fold in report["folds"]:
        actors = "-".join(f"{a:02d}" for a in (fold["actors"][0], fold["actors"][-1]))
        typer.echo(f"actors {actors}: accuracy {fold['accuracy']:.2%}, UAR {fold['uar']:.2%} "
                   f"(C {fold['C']:g})")
    typer.echo(f"{report['model']}, {folds}-fold actor CV ({report['clips']} clips): accuracy "
               f"{report['accuracy_mean']:.2%} +- {report['accuracy_std']:.2%}, UAR "
               f"{report['uar_mean']:.2%} +- {report['uar_std']:.2%}; 7 classes "
               f"{report['accuracy_7class_mean']:.2%} / {report['uar_7class_mean']:.2%}")
    if json_path is not None:
        atomic_write_json(json_path, report)
        typer.echo(f"report: {json_path}")
