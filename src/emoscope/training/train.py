"""The face-expression classification task: ``train(cfg)``, one complete run on FER2013, FER+
or an image folder, callable from tests without the CLI."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

from emoscope.config import to_dict
from emoscope.data.augment import FaceBatchTransform
from emoscope.data.faces import FaceArrays
from emoscope.errors import UserError
from emoscope.labels import LabelSpace
from emoscope.models.backbones import Preprocessing, backbone_preprocessing
from emoscope.models.files.checkpoint import ModelCard, load_model
from emoscope.registry import DATASETS, MODELS
from emoscope.training.classifier_module import ClassifierModule
from emoscope.training.config import TrainConfig
from emoscope.training.data_module import FaceDataModule, check_sampler
from emoscope.training.freezing import freeze_early_stages
from emoscope.training.init_weights import load_start_weights
from emoscope.training.losses import build_loss
from emoscope.training.run import (
    TrainResult,
    build_trainer,
    default_command,
    export_best,
    fit_resumable,
    loss_kwargs,
    open_run,
    start_run,
)

log = logging.getLogger(__name__)


def load_split(cfg: TrainConfig, split: str) -> FaceArrays:
    return DATASETS.build(cfg.data.dataset, root=cfg.data.root, split=split,
                          cache_dir=cfg.data.cache_dir or None, **cfg.data.kwargs)


def limit_per_class(arrays: FaceArrays, limit: int, seed: int) -> FaceArrays:
    rng = np.random.default_rng(seed)
    keep = []
    for c in range(arrays.label_space.num_classes):
        idx = np.flatnonzero(arrays.labels == c)
        keep.extend(rng.permutation(idx)[:limit])
    return arrays.subset(np.sort(np.asarray(keep, dtype=np.int64)))


def build_network(cfg: TrainConfig, num_classes: int,
                  labels: tuple[str, ...] = ()) -> tuple[nn.Module, dict[str, Any]]:
    kwargs = {"backbone": cfg.model.backbone, "num_classes": num_classes,
              "dropout": cfg.model.dropout, **cfg.model.kwargs}
    network = MODELS.build(cfg.model.architecture, pretrained=cfg.model.pretrained, **kwargs)
    if cfg.model.backbone_weights:
        load_backbone_weights(network.backbone, cfg.model.backbone_weights)
    if cfg.model.init_from:
        start, start_card = load_model(cfg.model.init_from)
        load_start_weights(network, start, start_card.label_space.labels,
                           labels or start_card.label_space.labels, cfg.model.init_from)
    if cfg.model.freeze_stages >= 0:
        freeze_early_stages(network.backbone, cfg.model.freeze_stages)
    return network, kwargs


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> None:
    """Start from a safetensors state dict (any float dtype); every backbone key must be there."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise UserError(f"{path}: cannot read backbone weights ({err})") from None
    own = backbone.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise UserError(f"{path}: {len(missing)} backbone keys missing, e.g. {missing[0]}")
    backbone.load_state_dict({k: state[k].to(own[k].dtype) for k in own})


def train(cfg: TrainConfig, resume: bool = False, command: str | None = None,
          callbacks: Sequence[L.Callback] = ()) -> TrainResult:
    """Train, keep the best checkpoint on validation, export it as safetensors + card.

    Writes to ``out_dir/name``: config.yaml, checkpoints/{best,last}.ckpt, metrics.csv,
    history.png, model.{safetensors,json}, final_metrics.json, val_report.json, confusion.png.
    command: how the run was started, for the model card (default: this process's argv).
    callbacks: extra Lightning callbacks (tests interrupt runs with one).
    """
    check_sampler(cfg.trainer.sampler)
    run_dir, last_ckpt = start_run(cfg, resume)

    train_set, val_set = load_split(cfg, cfg.data.train_split), load_split(cfg, cfg.data.val_split)
    if cfg.data.limit_per_class > 0:
        train_set = limit_per_class(train_set, cfg.data.limit_per_class, cfg.trainer.seed)
    label_space = train_set.label_space
    network, arch_kwargs = build_network(cfg, label_space.num_classes, label_space.labels)
    prep = backbone_preprocessing(network.backbone, cfg.data.image_size)
    transform = FaceBatchTransform(cfg.data.image_size, prep.mean, prep.std, cfg.augment)
    teacher, teacher_size = _load_teacher(cfg, prep)
    card = _model_card(cfg, arch_kwargs, label_space, prep, train_set.images.ndim == 3,
                       command or default_command())

    module = ClassifierModule(
        network.to(memory_format=torch.channels_last),
        build_loss(cfg.loss.name, **loss_kwargs(cfg.loss, train_set.labels,
                                                 train_set.label_space.num_classes)),
        cfg.optim, transform, label_space.num_classes, cfg.trainer.mixup_alpha,
        teacher, teacher_size, cfg.distill, cfg.trainer.tta_flip, to_dict(cfg),
        card=card.to_dict(),
    )
    data = FaceDataModule(train_set, val_set, cfg.trainer.batch_size, cfg.trainer.eval_batch_size,
                          cfg.trainer.sampler, cfg.data.soft_labels, cfg.trainer.seed)
    open_run(cfg, run_dir)
    trainer, checkpoint = build_trainer(cfg.trainer, run_dir, cfg.trainer.monitor,
                                        len(train_set) // cfg.trainer.batch_size,
                                        sanity_val_steps=None, extra_callbacks=callbacks)
    fit_resumable(trainer, run_dir, last_ckpt, resume, model=module, datamodule=data)
    return _finish(cfg, run_dir, trainer, module, checkpoint, card, val_set)


def _load_teacher(cfg: TrainConfig, prep) -> tuple[nn.Module | None, int | None]:
    if not cfg.distill.teacher:
        return None, None
    teacher, card = load_model(cfg.distill.teacher)
    if tuple(card.preprocessing.mean) != tuple(prep.mean) or tuple(card.preprocessing.std) != tuple(
            prep.std):
        raise UserError(f"{cfg.distill.teacher}: teacher normalisation differs from the student's")
    return teacher.to(memory_format=torch.channels_last), card.preprocessing.input_size[-1]


def _model_card(cfg: TrainConfig, arch_kwargs: dict[str, Any], label_space: LabelSpace,
                prep: Preprocessing, grayscale: bool, command: str) -> ModelCard:
    return ModelCard(
        name=cfg.name, architecture=cfg.model.architecture, architecture_kwargs=arch_kwargs,
        label_space=label_space, preprocessing=prep, grayscale=grayscale,
        data=f"{cfg.data.dataset} {cfg.data.train_split} (validated on {cfg.data.val_split})",
        recipe=json.dumps(to_dict(cfg), sort_keys=True), command=command,
    )


def _finish(cfg: TrainConfig, run_dir: Path, trainer: L.Trainer, module: ClassifierModule,
            checkpoint: ModelCheckpoint, card: ModelCard, val_set: FaceArrays) -> TrainResult:
    if trainer.global_rank != 0:
        return TrainResult(run_dir, run_dir / "model.safetensors", {})
    result = export_best(run_dir, trainer, module, checkpoint, card, cfg.trainer.monitor,
                         skip_prefix="teacher.")
    _report_validation(result.network, card, val_set, cfg, run_dir)
    return result


def _report_validation(network: nn.Module, card: ModelCard, val_set: FaceArrays,
                       cfg: TrainConfig, run_dir: Path) -> None:
    """Per-class scores and the confusion matrix of the exported model on validation."""
    from emoscope.evaluation.evaluate import evaluate_arrays, write_report
    from emoscope.evaluation.plots import plot_confusion

    report = evaluate_arrays(network, card, val_set, cfg.trainer.eval_batch_size)
    report.update(dataset=cfg.data.dataset, split=cfg.data.val_split)
    write_report(report, run_dir / "val_report.json")
    plot_confusion(report["confusion_matrix"], report["labels"], run_dir / "confusion.png",
                   title=f"{card.name} on {cfg.data.dataset} {cfg.data.val_split}")


