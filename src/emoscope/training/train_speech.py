"""``train_speech(cfg)``: one speech emotion training run, callable from tests without the CLI.

Spectrograms are computed once per dataset split (and cached on disk); epochs only crop them.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

from emoscope.config import to_dict
from emoscope.data.speech_arrays import SpeechArrays
from emoscope.errors import UserError
from emoscope.models.files.checkpoint import ModelCard, save_model
from emoscope.training.data_module import check_sampler
from emoscope.training.losses import build_loss
from emoscope.training.run import (
    TrainResult,
    best_epoch_scores,
    build_trainer,
    fit_resumable,
    load_best_weights,
    loss_kwargs,
    open_run,
    start_run,
)
from emoscope.training.speech_config import SpeechTrainConfig
from emoscope.training.speech_module import SpeechDataModule, SpeechModule
from emoscope.training.speech_probe import fit_speech_probe
from emoscope.training.speech_setup import build_speech_network, load_speech_split, speech_card
from emoscope.training.speech_teacher import load_teacher
from emoscope.utils.files import atomic_write_text

log = logging.getLogger(__name__)


def train_speech(cfg: SpeechTrainConfig, resume: bool = False, command: str | None = None,
                 callbacks: Sequence[L.Callback] = ()) -> TrainResult:
    """Train, keep the best checkpoint on the validation speakers, export safetensors + card.

    Writes to ``out_dir/name`` as ``train`` does (config.yaml, checkpoints, metrics.csv,
    history.png, model.{safetensors,json}, final_metrics.json, val_report.json, confusion.png).
    With ``linear_probe.enabled`` it fits a linear probe on the frozen encoder instead.
    """
    if cfg.linear_probe.enabled:
        return fit_speech_probe(cfg, command or " ".join(sys.argv))
    if not 0.0 <= cfg.data.speed_perturb < 0.5:
        raise UserError(f"data.speed_perturb must be in [0, 0.5), got {cfg.data.speed_perturb}")
    check_sampler(cfg.trainer.sampler)
    if not 0.0 <= cfg.data.teacher_weight <= 1.0:
        raise UserError(f"data.teacher_weight must be in [0, 1], got {cfg.data.teacher_weight}")
    if cfg.data.teacher and cfg.data.speed_perturb:
        raise UserError("data.teacher and data.speed_perturb cannot be combined (the teacher "
                        "scored the clips at normal speed)")
    run_dir, last_ckpt = start_run(cfg, resume)
    train_set = load_speech_split(cfg, cfg.data.train_split)
    val_set = load_speech_split(cfg, cfg.data.val_split)
    if train_set.speakers is not None and val_set.speakers is not None:
        shared = set(train_set.speakers.tolist()) & set(val_set.speakers.tolist())
        if shared:
            raise UserError(f"speakers {sorted(shared)} are in both training and validation")
    label_space = train_set.label_space
    network, arch_kwargs = build_speech_network(cfg, label_space.num_classes)
    card = speech_card(cfg, arch_kwargs, label_space, command or " ".join(sys.argv),
                       train_set, val_set)
    loss = build_loss(cfg.loss.name, **loss_kwargs(cfg.loss, train_set.labels,
                                                    label_space.num_classes))
    module = SpeechModule(network, loss, cfg.optim, label_space.num_classes, cfg.mixup_alpha,
                          to_dict(cfg), card.to_dict())
    frames = cfg.audio.frames(cfg.data.crop_seconds)
    teacher = load_teacher(cfg.data.teacher, train_set) if cfg.data.teacher else None
    data = SpeechDataModule(train_set, val_set, frames, cfg.trainer.batch_size,
                            cfg.trainer.eval_batch_size, cfg.trainer.seed,
                            cfg.data.speed_perturb, cfg.audio, cfg.trainer.sampler,
                            teacher, cfg.data.teacher_weight)
    open_run(cfg, run_dir)
    trainer, checkpoint = build_trainer(cfg.trainer, run_dir, cfg.trainer.monitor,
                                        len(train_set) // cfg.trainer.batch_size,
                                        sanity_val_steps=None, extra_callbacks=callbacks)
    fit_resumable(trainer, run_dir, last_ckpt, resume, model=module, datamodule=data)
    return _finish(cfg, run_dir, module, checkpoint, network, card, val_set)


def _finish(cfg: SpeechTrainConfig, run_dir: Path, module: SpeechModule,
            checkpoint: ModelCheckpoint, network: nn.Module, card: ModelCard,
            val_set: SpeechArrays) -> TrainResult:
    from emoscope.evaluation.evaluate import write_report
    from emoscope.evaluation.plots import plot_confusion, plot_history
    from emoscope.evaluation.speech import evaluate_speech_arrays

    load_best_weights(module, checkpoint)
    scores, history = best_epoch_scores(run_dir, cfg.trainer.monitor)
    network = network.cpu().eval()
    report = evaluate_speech_arrays(network, card, val_set)
    scores.update(val_clip_accuracy=round(report["accuracy"], 4),
                  val_clip_uar=round(report["uar"], 4))
    card.scores = scores
    model_path = save_model(network, card, run_dir / "model")
    atomic_write_text(run_dir / "final_metrics.json", json.dumps({"best": scores}, indent=2))
    report.update(dataset=cfg.data.dataset, split=cfg.data.val_split)
    write_report(report, run_dir / "val_report.json")
    plot_confusion(report["confusion_matrix"], report["labels"], run_dir / "confusion.png",
                   title=f"{card.name} on {cfg.data.dataset} {cfg.data.val_split}")
    if history:
        plot_history(history, run_dir / "history.png")
    return TrainResult(run_dir, model_path, scores, history, network)
