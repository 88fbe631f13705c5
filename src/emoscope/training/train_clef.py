"""``train_clef(cfg)``: one CAER-S run (a context-aware model, the face-only control, or CLEF
around either), callable from tests. Schedules: joint from scratch (``model.debias=true``),
or wrapping an already trained factual model (``model.factual_from=RUN/model.json``,
optionally ``model.freeze_factual=true``).

Writes the run folder of ``train``: config.yaml, checkpoints/{best,last}.ckpt, metrics.csv,
history.png, model.{safetensors,json}, final_metrics.json and val_report.json (every head's
accuracy side by side: factual, factual_model, context, tie).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader

from emoscope.config import to_dict
from emoscope.data.caer_s import CAER_STREAMS, CaerSDataset
from emoscope.errors import UserError
from emoscope.labels import CAER_S_LABELS
from emoscope.models.checkpoint import ModelCard, load_model, save_model
from emoscope.models.counterfactual import CounterfactualModel
from emoscope.registry import DATASETS, MODELS
from emoscope.training.clef_config import ClefConfig
from emoscope.training.counterfactual_module import MONITOR, CounterfactualModule
from emoscope.training.history import read_history
from emoscope.training.losses_counterfactual import CounterfactualLoss
from emoscope.training.train import (
    TrainResult,
    _default_command,
    _plot_history,
    fit_resumable,
    start_run,
)
from emoscope.utils.files import atomic_write_text

log = logging.getLogger(__name__)

UNUSED_STREAM_SIZE = 8  # a stream the model does not read is still produced: keep it tiny


def _factual(cfg: ClefConfig) -> tuple[nn.Module, dict[str, Any]]:
    """The factual model (trained weights with ``factual_from``) and its rebuild spec."""
    m = cfg.model
    if m.factual_from:
        network, card = load_model(m.factual_from)
        if card.architecture == "clef":
            raise UserError(f"{m.factual_from}: already a CLEF model; wrap its factual model")
        return network.train(), {"architecture": card.architecture,
                                 "kwargs": dict(card.architecture_kwargs)}
    kwargs = dict(m.factual_kwargs)
    network = MODELS.build(m.factual, pretrained=m.pretrained, **kwargs)
    return network, {"architecture": m.factual, "kwargs": kwargs}


def build_clef_network(cfg: ClefConfig) -> tuple[nn.Module, dict[str, Any]]:
    """The network of a run and its card's (architecture, kwargs)."""
    from emoscope import components  # noqa: F401  (every model and backbone registered)

    factual, spec = _factual(cfg)
    if not cfg.model.debias:
        return factual, spec
    m = cfg.model
    network = CounterfactualModel(
        factual, CAER_S_LABELS.num_classes, context_backbone=m.context_backbone,
        context_image_size=m.context_image_size or None, fusion=m.fusion,
        space=m.space or None, clamp=m.clamp, pretrained=m.pretrained, factual_config=spec)
    return network, {"architecture": "clef", "kwargs": network.config}


def stream_specs_for(network: nn.Module, augment: str) -> dict[str, dict[str, Any]]:
    """CAER-S stream specs from the models' preprocessing: the factual model's streams, then
    the context branch's ``context_masked`` if the factual model does not read it."""
    factual = network.factual if isinstance(network, CounterfactualModel) else network
    preprocessing = dict(getattr(factual, "preprocessing", {}) or {})
    if not isinstance(preprocessing, dict) or not preprocessing:
        raise UserError(f"{type(factual).__name__}: no per-stream preprocessing; CAER-S needs "
                        "a context-aware model (caernet_s, face_only, multistream, ...)")
    if isinstance(network, CounterfactualModel):
        preprocessing.setdefault(network.context_key, network.context_branch.preprocessing)
    specs: dict[str, dict[str, Any]] = {}
    for stream in CAER_STREAMS:
        prep = preprocessing.get(stream)
        if prep is None:
            specs[stream] = {"size": UNUSED_STREAM_SIZE}
            continue
        specs[stream] = {"size": list(prep.input_size[1:]), "mean": list(prep.mean),
                         "std": list(prep.std), "augment": augment}
    return specs


def load_caer_splits(cfg: ClefConfig, network: nn.Module) -> tuple[CaerSDataset, CaerSDataset]:
    d = cfg.data
    if d.dataset != "caer_s":
        raise UserError(f"clef runs read CAER-S (data.dataset=caer_s), not '{d.dataset}'")
    common = {"root": d.root, "mask": d.mask, "limit": d.limit}
    train = DATASETS.build(d.dataset, split=d.train_split, train=True,
                           streams=stream_specs_for(network, d.augment),
                           face_coords=d.face_coords or None, **common)
    val = DATASETS.build(d.dataset, split=d.val_split, train=False,
                         streams=stream_specs_for(network, "none"),
                         face_coords=d.val_face_coords or None, **common)
    return train, val


def _card(cfg: ClefConfig, network: nn.Module, spec: dict[str, Any], train: CaerSDataset,
          command: str) -> ModelCard:
    streams = {name: {**s.to_dict(), "augment": "none"} for name, s in train.specs.items()}
    factual = network.factual if isinstance(network, CounterfactualModel) else network
    first = next(iter(factual.preprocessing.values()))
    heads = ["factual", "factual_model", "context", "tie"] if cfg.model.debias else ["factual"]
    return ModelCard(
        name=cfg.name, architecture=spec["architecture"], architecture_kwargs=spec["kwargs"],
        label_space=CAER_S_LABELS, preprocessing=first, outputs=["logits"],
        task="context_emotion", data=f"caer_s {cfg.data.train_split} (validated on "
        f"{cfg.data.val_split})", recipe=json.dumps(to_dict(cfg), sort_keys=True),
        command=command, extra={"caer": {"streams": streams, "mask": cfg.data.mask},
                                "heads": heads})


def _trainer(cfg: ClefConfig, run_dir: Path, steps: int) -> tuple[L.Trainer, ModelCheckpoint]:
    t = cfg.trainer
    checkpoint = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best",
                                 monitor=MONITOR, mode="max", save_last=True)
    callbacks: list[L.Callback] = [checkpoint]
    if t.early_stopping_patience > 0:
        callbacks.append(EarlyStopping(MONITOR, mode="max", patience=t.early_stopping_patience))
    precision = t.precision
    if precision == "auto":
        precision = "bf16-mixed" if torch.cuda.is_available() else "32-true"
    trainer = L.Trainer(
        max_epochs=t.max_epochs,
        max_time={"minutes": t.max_minutes} if t.max_minutes > 0 else None,
        accelerator=t.accelerator, devices=t.devices, precision=precision,
        callbacks=callbacks, logger=CSVLogger(str(run_dir), name="", version=""),
        enable_progress_bar=sys.stderr.isatty(), enable_model_summary=False,
        default_root_dir=str(run_dir), log_every_n_steps=max(1, min(10, steps)),
        num_sanity_val_steps=0)
    return trainer, checkpoint


def train_clef(cfg: ClefConfig, resume: bool = False, command: str | None = None) -> TrainResult:
    """Train on CAER-S, keep the best checkpoint on ``val/acc`` (TIE for CLEF), export it."""
    run_dir, last_ckpt = start_run(cfg, resume)
    network, spec = build_clef_network(cfg)
    train, val = load_caer_splits(cfg, network)
    card = _card(cfg, network, spec, train, command or _default_command())
    loss = None
    if cfg.model.debias:
        loss = CounterfactualLoss(cfg.loss.factual_weight, cfg.loss.context_weight,
                                  cfg.loss.kl_weight, cfg.loss.warmup_steps,
                                  cfg.loss.label_smoothing)
    module = CounterfactualModule(network, loss, cfg.optim, CAER_S_LABELS.num_classes,
                                  cfg.model.freeze_factual, cfg.loss.label_smoothing,
                                  to_dict(cfg), card=card.to_dict())
    t = cfg.trainer
    generator = torch.Generator().manual_seed(t.seed)
    drop_last = len(train) > t.batch_size and len(train) % t.batch_size == 1
    train_loader = DataLoader(train, t.batch_size, shuffle=True, generator=generator,
                              num_workers=cfg.data.num_workers, drop_last=drop_last)
    val_loader = DataLoader(val, t.eval_batch_size, num_workers=cfg.data.num_workers)
    trainer, checkpoint = _trainer(cfg, run_dir, len(train_loader))
    fit_resumable(trainer, run_dir, last_ckpt, resume, model=module,
                  train_dataloaders=train_loader, val_dataloaders=val_loader)
    return _finish(cfg, run_dir, trainer, module, checkpoint, card, val)


def _finish(cfg: ClefConfig, run_dir: Path, trainer: L.Trainer, module: CounterfactualModule,
            checkpoint: ModelCheckpoint, card: ModelCard, val: CaerSDataset) -> TrainResult:
    from emoscope.evaluation.counterfactual import predict_heads, score_heads
    from emoscope.evaluation.evaluate import write_report

    if trainer.global_rank != 0:
        return TrainResult(run_dir, run_dir / "model.safetensors", {})
    if checkpoint.best_model_path:
        state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
        module.load_state_dict(state["state_dict"])
    history = read_history(run_dir)
    best_row = max((r for r in history if MONITOR in r), key=lambda r: r[MONITOR], default={})
    scores: dict[str, Any] = {k: round(float(v), 4) for k, v in best_row.items()
                              if k.startswith("val/") and v == v}
    scores["best_epoch"] = int(best_row.get("epoch", -1)) if best_row else -1
    card.scores = scores
    network = module.network.cpu().eval()
    model_path = save_model(network, card, run_dir / "model")
    last = {k: float(v) for k, v in trainer.callback_metrics.items()}
    atomic_write_text(run_dir / "final_metrics.json",
                      json.dumps({"best": scores, "last": last}, indent=2))
    _plot_history(history, run_dir / "history.png")
    report = score_heads(predict_heads(network, val, cfg.trainer.eval_batch_size),
                         CAER_S_LABELS.labels)
    report.update(model=cfg.name, dataset="caer_s", root=cfg.data.root, split=cfg.data.val_split)
    write_report(report, run_dir / "val_report.json")
    return TrainResult(run_dir, model_path, scores, history, network)
