"""A linear probe on a frozen pretrained speech encoder (``speech_ge2e``).

The encoder's pooled features of each training clip's centred crop are standardised and a
class-balanced multinomial logistic regression is fitted on them, its inverse regularisation
``C`` chosen by leave-speakers-out cross-validation inside the training speakers (contiguous
groups of the sorted speaker IDs), so the validation speakers choose nothing. The scaler and the
regression become the model's own batch-norm statistics and linear head: the result is an
ordinary ``speech_ge2e`` model file that every entry point loads.

    emoscope train configs/ravdess_speech_ge2e.yaml --set linear_probe.enabled=true
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from emoscope.data.ravdess import speaker_folds
from emoscope.data.speech_arrays import SpeechArrays
from emoscope.errors import UserError
from emoscope.models.files.checkpoint import save_model
from emoscope.training.run import TrainResult, open_run, start_run
from emoscope.training.speech_config import SpeechTrainConfig
from emoscope.training.speech_setup import build_speech_network, load_speech_split, speech_card
from emoscope.utils.files import atomic_write_text


def clip_features(network: nn.Module, arrays: SpeechArrays, frames: int,
                  batch_size: int = 64) -> np.ndarray:
    """(N, D) pooled encoder features of each clip's centred ``frames``."""
    crops = np.stack(arrays.centred_crops(frames))
    network.eval()
    with torch.inference_mode():
        parts = [network.features(torch.from_numpy(crops[i:i + batch_size]))
                 for i in range(0, len(crops), batch_size)]
    return torch.cat(parts).numpy().astype(np.float64)


def fit_regression(features: np.ndarray, labels: np.ndarray, c: float):
    """(scaler, regression): standardised features, class-balanced multinomial logistic
    regression with inverse regularisation ``c``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features)
    regression = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    return scaler, regression.fit(scaler.transform(features), labels)


def choose_c(features: np.ndarray, labels: np.ndarray, speakers: np.ndarray,
             cs: Sequence[float], folds: int = 4) -> tuple[float, dict[float, float]]:
    """The ``C`` with the best leave-speakers-out UAR (the smaller one on a tie)."""
    from sklearn.metrics import balanced_accuracy_score

    groups = speaker_folds(speakers, folds)
    scores: dict[float, float] = {}
    for c in cs:
        predicted = np.zeros_like(labels)
        for held in groups:
            test = np.isin(speakers, held)
            scaler, regression = fit_regression(features[~test], labels[~test], c)
            predicted[test] = regression.predict(scaler.transform(features[test]))
        scores[c] = float(balanced_accuracy_score(labels, predicted))  # UAR
    best = max(scores.values())
    return min(c for c, s in scores.items() if s == best), scores


def probe_head(network: nn.Module) -> tuple[nn.BatchNorm1d, nn.Linear]:
    """The (batch norm, linear) ends of ``network.head``; a UserError for other models."""
    head = getattr(network, "head", None)
    if (not isinstance(head, nn.Sequential) or not isinstance(head[0], nn.BatchNorm1d)
            or not isinstance(head[-1], nn.Linear)):
        raise UserError(f"linear_probe needs a model with a batch-norm + linear head "
                        f"(speech_ge2e), not {type(network).__name__}")
    return head[0], head[-1]


def install_head(network: nn.Module, mean: np.ndarray, var: np.ndarray, coef: np.ndarray,
                 intercept: np.ndarray) -> None:
    """Make ``network.head`` (BatchNorm1d, Dropout, Linear) compute ``coef @ (x - mean) /
    sqrt(var) + intercept`` in eval mode (batch norm's epsilon folded into the weights)."""
    norm, linear = probe_head(network)
    if coef.shape != tuple(linear.weight.shape):
        raise UserError(f"probe weights {coef.shape} do not fit the head "
                        f"{tuple(linear.weight.shape)}")
    rescale = np.sqrt((var + norm.eps) / var)
    with torch.no_grad():
        norm.running_mean.copy_(torch.from_numpy(mean))
        norm.running_var.copy_(torch.from_numpy(var))
        norm.weight.fill_(1.0)
        norm.bias.zero_()
        linear.weight.copy_(torch.from_numpy(coef * rescale[None, :]))
        linear.bias.copy_(torch.from_numpy(intercept))


def fit_speech_probe(cfg: SpeechTrainConfig, command: str = "") -> TrainResult:
    """Fit the probe on ``cfg``'s training split (C from ``cfg.linear_probe.cs``), score it on
    the validation split and write ``out_dir/name/`` config.yaml, model.{safetensors,json},
    final_metrics.json and val_report.json (a fit takes about a minute, so there is nothing to
    resume: a finished run is refused like any other)."""
    from emoscope.evaluation.evaluate import write_report
    from emoscope.evaluation.speech import evaluate_speech_arrays

    cs = [float(c) for c in cfg.linear_probe.cs]
    if not cs or min(cs) <= 0:
        raise UserError(f"linear_probe.cs must be positive values, got {cfg.linear_probe.cs}")
    run_dir = Path(cfg.out_dir) / cfg.name
    if (run_dir / "model.safetensors").exists():
        raise UserError(f"{run_dir}: a probe was already fitted there; choose another "
                        "name/out_dir")
    run_dir, _ = start_run(cfg, resume=False)
    train_set = load_speech_split(cfg, cfg.data.train_split)
    val_set = load_speech_split(cfg, cfg.data.val_split)
    if train_set.speakers is None:
        raise UserError(f"dataset '{cfg.data.dataset}' names no speakers: a leave-speakers-out "
                        "probe needs them")
    network, arch_kwargs = build_speech_network(cfg, train_set.label_space.num_classes)
    probe_head(network)  # before the features are computed
    open_run(cfg, run_dir)
    frames = cfg.audio.frames(cfg.data.crop_seconds)
    features = clip_features(network, train_set, frames)
    speakers = np.asarray(train_set.speakers).astype(np.int64)
    c, cv_uar = choose_c(features, train_set.labels, speakers, cs)
    scaler, fitted = fit_regression(features, train_set.labels, c)
    if len(fitted.classes_) != train_set.label_space.num_classes:
        raise UserError(f"the training split has {len(fitted.classes_)} of "
                        f"{train_set.label_space.num_classes} classes")
    install_head(network, scaler.mean_, scaler.var_, fitted.coef_, fitted.intercept_)
    card = speech_card(cfg, arch_kwargs, train_set.label_space, command, train_set, val_set)
    card.extra["linear_probe"] = {
        "C": c, "cv_uar": {str(k): round(v, 4) for k, v in cv_uar.items()},
        "cv": f"leave-speakers-out, 4 groups of the sorted training speakers "
              f"{sorted(set(speakers.tolist()))}"}
    network = network.eval()
    report = evaluate_speech_arrays(network, card, val_set)
    card.scores = {"val_clip_accuracy": round(report["accuracy"], 4),
                   "val_clip_uar": round(report["uar"], 4),
                   "val_clip_macro_f1": round(report["macro_f1"], 4)}
    if not all(math.isfinite(v) for v in card.scores.values()):  # before anything is written
        raise UserError(f"{run_dir}: the probe's scores are not finite")
    model_path = save_model(network, card, run_dir / "model")
    atomic_write_text(run_dir / "final_metrics.json",
                      json.dumps({"best": card.scores, "linear_probe": card.extra["linear_probe"]},
                                 indent=2))
    report.update(dataset=cfg.data.dataset, split=cfg.data.val_split)
    write_report(report, run_dir / "val_report.json")
    return TrainResult(run_dir, model_path, card.scores, [], network)
