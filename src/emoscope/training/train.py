"""``train(cfg)``: one complete training run, callable from tests without the CLI."""

from __future__ import annotations

import json
import logging
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn

from emoscope.config import save_config, to_dict
from emoscope.data.augment import FaceBatchTransform
from emoscope.data.faces import FaceArrays
from emoscope.errors import UserError
from emoscope.models.backbones import backbone_preprocessing
from emoscope.models.checkpoint import ModelCard, load_model, save_model
from emoscope.registry import DATASETS, MODELS
from emoscope.training.config import TrainConfig
from emoscope.training.data_module import FaceDataModule, inverse_frequency
from emoscope.training.freezing import freeze_early_stages
from emoscope.training.losses import build_loss
from emoscope.training.module import ClassifierModule
from emoscope.utils.files import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_dir: Path
    model_path: Path
    metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    network: nn.Module | None = None


def load_split(cfg: TrainConfig, split: str) -> FaceArrays:
    from emoscope import components  # noqa: F401  (fills the DATASETS registry)

    return DATASETS.build(cfg.data.dataset, root=cfg.data.root, split=split,
                          cache_dir=cfg.data.cache_dir or None)


def limit_per_class(arrays: FaceArrays, limit: int, seed: int) -> FaceArrays:
    rng = np.random.default_rng(seed)
    keep = []
    for c in range(arrays.label_space.num_classes):
        idx = np.flatnonzero(arrays.labels == c)
        keep.extend(rng.permutation(idx)[:limit])
    return arrays.subset(np.sort(np.asarray(keep, dtype=np.int64)))


def build_network(cfg: TrainConfig, num_classes: int) -> tuple[nn.Module, dict[str, Any]]:
    kwargs = {"backbone": cfg.model.backbone, "num_classes": num_classes,
              "dropout": cfg.model.dropout}
    network = MODELS.build(cfg.model.architecture, pretrained=cfg.model.pretrained, **kwargs)
    if cfg.model.freeze_stages >= 0:
        freeze_early_stages(network.backbone, cfg.model.freeze_stages)
    return network, kwargs


def _loss_kwargs(cfg: TrainConfig, train: FaceArrays) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"label_smoothing": cfg.loss.label_smoothing}
    if cfg.loss.name == "focal":
        kwargs["gamma"] = cfg.loss.focal_gamma
    if cfg.loss.class_weights:
        kwargs["class_weights"] = inverse_frequency(train.labels, train.label_space.num_classes)
    return kwargs


def _precision(cfg: TrainConfig) -> str:
    if cfg.trainer.precision != "auto":
        return cfg.trainer.precision
    return "bf16-mixed" if torch.cuda.is_available() else "32-true"


def train(cfg: TrainConfig, resume: bool = False) -> TrainResult:
    """Train, keep the best checkpoint on validation, export it as safetensors + card."""
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    if cfg.trainer.num_threads > 0:
        torch.set_num_threads(cfg.trainer.num_threads)
    run_dir = Path(cfg.out_dir) / cfg.name
    last_ckpt = run_dir / "checkpoints" / "last.ckpt"
    if run_dir.exists() and not resume and last_ckpt.exists():
        raise UserError(f"{run_dir}: a run already exists there; pass --resume to continue it "
                        "or choose another name/out_dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")

    train_set, val_set = load_split(cfg, cfg.data.train_split), load_split(cfg, cfg.data.val_split)
    if cfg.data.limit_per_class > 0:
        train_set = limit_per_class(train_set, cfg.data.limit_per_class, cfg.trainer.seed)
    label_space = train_set.label_space
    network, arch_kwargs = build_network(cfg, label_space.num_classes)
    prep = backbone_preprocessing(network.backbone, cfg.data.image_size)
    transform = FaceBatchTransform(cfg.data.image_size, prep.mean, prep.std, cfg.augment)
    teacher, teacher_size = _load_teacher(cfg, prep)

    module = ClassifierModule(
        network.to(memory_format=torch.channels_last),
        build_loss(cfg.loss.name, **_loss_kwargs(cfg, train_set)),
        cfg.optim, transform, label_space.num_classes, cfg.trainer.mixup_alpha,
        teacher, teacher_size, cfg.distill, cfg.trainer.tta_flip, to_dict(cfg),
    )
    data = FaceDataModule(train_set, val_set, cfg.trainer.batch_size, cfg.trainer.eval_batch_size,
                          cfg.trainer.sampler, cfg.data.soft_labels, cfg.trainer.seed)
    checkpoint = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best",
                                 monitor=cfg.trainer.monitor, mode="max", save_last=True)
    callbacks: list[L.Callback] = [checkpoint]
    if cfg.trainer.early_stopping_patience > 0:
        callbacks.append(EarlyStopping(cfg.trainer.monitor, mode="max",
                                       patience=cfg.trainer.early_stopping_patience))
    trainer = L.Trainer(
        max_epochs=cfg.trainer.max_epochs,
        max_time={"minutes": cfg.trainer.max_minutes} if cfg.trainer.max_minutes > 0 else None,
        accelerator=cfg.trainer.accelerator, devices=cfg.trainer.devices,
        strategy=cfg.trainer.strategy, num_nodes=cfg.trainer.num_nodes,
        precision=_precision(cfg), callbacks=callbacks,
        logger=CSVLogger(str(run_dir), name="", version=""),
        enable_progress_bar=sys.stderr.isatty(), enable_model_summary=False,
        default_root_dir=str(run_dir), log_every_n_steps=10,
    )
    ckpt_path = str(last_ckpt) if resume and last_ckpt.exists() else None
    if resume and ckpt_path is None:
        log.info("no checkpoint to resume in %s; starting fresh", run_dir)
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
    return _finish(cfg, run_dir, trainer, module, checkpoint, network, arch_kwargs, prep,
                   label_space)


def _load_teacher(cfg: TrainConfig, prep) -> tuple[nn.Module | None, int | None]:
    if not cfg.distill.teacher:
        return None, None
    teacher, card = load_model(cfg.distill.teacher)
    if tuple(card.preprocessing.mean) != tuple(prep.mean) or tuple(card.preprocessing.std) != tuple(
            prep.std):
        raise UserError(f"{cfg.distill.teacher}: teacher normalisation differs from the student's")
    return teacher.to(memory_format=torch.channels_last), card.preprocessing.input_size[-1]


def _finish(cfg, run_dir, trainer, module, checkpoint, network, arch_kwargs, prep,
            label_space) -> TrainResult:
    if trainer.global_rank != 0:
        return TrainResult(run_dir, run_dir / "model.safetensors", {})
    best = checkpoint.best_model_path
    if best:
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict({k: v for k, v in state.items() if not k.startswith("teacher.")},
                               strict=False)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    history = _read_history(run_dir / "metrics.csv")
    best_row = max((r for r in history if cfg.trainer.monitor in r),
                   key=lambda r: r[cfg.trainer.monitor], default={})
    scores = {k: round(float(v), 4) for k, v in best_row.items()
              if k.startswith("val/") and v == v}
    scores["best_epoch"] = int(best_row.get("epoch", -1)) if best_row else -1
    card = ModelCard(
        name=cfg.name, architecture=cfg.model.architecture, architecture_kwargs=arch_kwargs,
        label_space=label_space, preprocessing=prep, grayscale=True,
        data=f"{cfg.data.dataset} {cfg.data.train_split} (validated on {cfg.data.val_split})",
        recipe=json.dumps(to_dict(cfg), sort_keys=True),
        command="emoscope train " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        scores=scores,
    )
    model_path = save_model(network.cpu().to(memory_format=torch.contiguous_format), card,
                            run_dir / "model")
    atomic_write_text(run_dir / "final_metrics.json",
                      json.dumps({"best": scores, "last": metrics}, indent=2))
    _plot_history(history, run_dir / "history.png")
    return TrainResult(run_dir, model_path, scores, history, network)


def _read_history(path: Path) -> list[dict[str, Any]]:
    """Lightning's CSV has one row per logging call; merge them per epoch."""
    if not path.is_file():
        return []
    import pandas as pd

    frame = pd.read_csv(path)
    if "epoch" not in frame:
        return []
    merged = frame.groupby("epoch").last().reset_index()
    return [{k: v for k, v in row.items() if v == v} for row in merged.to_dict("records")]


def _plot_history(history: list[dict[str, Any]], path: Path) -> None:
    try:
        from emoscope.evaluation.plots import plot_history
    except ImportError:
        return
    if history:
        plot_history(history, path)
