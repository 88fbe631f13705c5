"""``train_emotic(cfg)``: one EMOTIC (context / body / face) training run, callable from tests.

Writes the same run folder as ``train``: config.yaml, checkpoints/{best,last}.ckpt,
metrics.csv, history.png, model.{safetensors,json} (card with per-stream preprocessing and
the VAD statistics), final_metrics.json and val_metrics.{txt,json} (mAP, per-class AP, VAD MAE
of the exported model on the validation split).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, Dataset

from emoscope.config import to_dict
from emoscope.data.emotic.dataset import EmoticDataset
from emoscope.data.emotic.reader import read_emotic
from emoscope.data.emotic.records import EmoticData
from emoscope.errors import UserError
from emoscope.labels import EMOTIC_CATEGORIES
from emoscope.models.files.checkpoint import ModelCard
from emoscope.models.multistream import MultiStreamModel, multistream_card
from emoscope.models.streams import STREAMS
from emoscope.registry import DATASETS, LOSSES, MODELS
from emoscope.training.adasyn import resample_cached, write_resampling_report
from emoscope.training.emotic_config import EmoticConfig
from emoscope.training.feature_cache import cached_features
from emoscope.training.multistream_module import MONITOR, MultiStreamModule
from emoscope.training.resume import ResumableLoader
from emoscope.training.run import (
    TrainResult,
    build_trainer,
    default_command,
    export_best,
    fit_resumable,
    open_run,
    start_run,
)

log = logging.getLogger(__name__)

UNUSED_STREAM_SIZE = 8  # a stream the model does not read is still produced: keep it tiny


def build_emotic_network(cfg: EmoticConfig) -> MultiStreamModel:
    """The configured multi-stream model; ``emotic_reference`` takes only the ablation, the
    image sizes and the pretrained mode from the config (the rest is the preset)."""
    m = cfg.model
    streams = {s: getattr(m, s) for s in STREAMS}
    sizes = {s: c.image_size for s, c in streams.items() if c.image_size > 0}
    if m.architecture == "emotic_reference":
        overrides: dict[str, Any] = {"ablation": m.ablation}
        if sizes:
            overrides["image_sizes"] = sizes
        return MODELS.build("emotic_reference", pretrained=m.pretrained, **overrides)
    if m.architecture != "multistream":
        raise UserError(f"EMOTIC model.architecture '{m.architecture}'; known: multistream, "
                        "emotic_reference")
    return MultiStreamModel(
        **{s: c.backbone or None for s, c in streams.items()}, ablation=m.ablation,
        fusion=m.fusion, fusion_dim=m.fusion_dim, fusion_kwargs=m.fusion_kwargs, heads=m.heads,
        head_kwargs=m.head_kwargs, image_sizes=sizes, pretrained=m.pretrained)


def stream_specs_for(network: MultiStreamModel, cfg: EmoticConfig,
                     augment: bool) -> dict[str, dict[str, Any]]:
    """Dataset stream specs from the backbones' preprocessing (and the config's levels)."""
    specs: dict[str, dict[str, Any]] = {}
    for stream in STREAMS:
        if stream not in network.preprocessing:
            specs[stream] = {"size": UNUSED_STREAM_SIZE}
            continue
        prep = network.preprocessing[stream]
        level = getattr(cfg.model, stream).augment if augment else "none"
        specs[stream] = {"size": list(prep.input_size[1:]), "mean": list(prep.mean),
                         "std": list(prep.std), "augment": level}
    return specs


def read_emotic_records(cfg: EmoticConfig) -> dict[str, EmoticData]:
    """The annotations of the training and validation splits, read (and checked) before any
    network is built; empty for a dataset other than ``emotic``."""
    d = cfg.data
    if d.dataset != "emotic":
        return {}
    return {split: read_emotic(d.root, split, layout=d.layout or None,
                               face_cache=d.face_cache or None, include_extra=d.include_extra)
            for split in (d.train_split, d.val_split)}


def load_emotic_splits(cfg: EmoticConfig, network: MultiStreamModel,
                       records: dict[str, EmoticData] | None = None,
                       ) -> tuple[EmoticDataset, EmoticDataset]:
    """Train (augmented as configured) and validation datasets; VAD statistics from train.
    records: ``read_emotic_records(cfg)``, when read already."""
    d = cfg.data
    options = {"layout": d.layout or None, "face_cache": d.face_cache or None,
               "mask_body": d.mask_body, "min_face_visibility": d.min_face_visibility,
               "include_extra": d.include_extra}
    read = {split: {"records": records[split]} for split in records or {}}
    train = DATASETS.build(d.dataset, root=d.root, split=d.train_split, train=True,
                           streams=stream_specs_for(network, cfg, True),
                           normalise_vad=d.normalise_vad, **options,
                           **read.get(d.train_split, {}))
    val = DATASETS.build(d.dataset, root=d.root, split=d.val_split, train=False,
                         streams=stream_specs_for(network, cfg, False),
                         normalise_vad=d.normalise_vad, vad_stats=train.vad_stats, **options,
                         **read.get(d.val_split, {}))
    if d.limit > 0:
        train.persons, val.persons = train.persons[:d.limit], val.persons[:d.limit]
    return train, val


def _card(cfg: EmoticConfig, network: MultiStreamModel, train: EmoticDataset,
          command: str) -> ModelCard:
    emotic = {
        "streams": {s: spec.to_dict() for s, spec in train.specs.items()
                    if s in network.streams},
        "mask_body": train.mask_body,
        "min_face_visibility": train.min_face_visibility,
        "vad_stats": train.vad_stats.to_dict() if train.vad_stats else None,
        "vad_labels": list(train.vad_space.labels),
    }
    return multistream_card(
        network, cfg.name, EMOTIC_CATEGORIES, extra={"emotic": emotic},
        data=f"emotic {cfg.data.train_split} (validated on {cfg.data.val_split})",
        recipe=json.dumps(to_dict(cfg), sort_keys=True), command=command)


def _loaders(cfg: EmoticConfig, network: MultiStreamModel, train: EmoticDataset,
             val: EmoticDataset) -> tuple[DataLoader, DataLoader]:
    t = cfg.trainer
    train_data: Dataset = train
    val_data: Dataset = val
    if t.feature_cache:
        train_data = cached_features(network, train, t.cache_dir, t.eval_batch_size,
                                     cfg.data.num_workers)
        val_data = cached_features(network, val, t.cache_dir, t.eval_batch_size,
                                   cfg.data.num_workers)
        if t.resample != "none":
            train_data = resample_cached(train_data, t.resample, t.seed, EMOTIC_CATEGORIES.labels)
    elif t.resample != "none":
        raise UserError(f"trainer.resample={t.resample}: ADASYN resamples cached features; set "
                        "model.freeze_backbones=true and trainer.feature_cache=true")
    generator = torch.Generator().manual_seed(t.seed)
    workers = 0 if t.feature_cache else cfg.data.num_workers
    # drop_last: a last batch of one row would break BatchNorm in the fusion/heads
    drop_last = len(train_data) > t.batch_size and len(train_data) % t.batch_size == 1
    return (ResumableLoader(train_data, t.batch_size, shuffle=True, generator=generator,
                            num_workers=workers, drop_last=drop_last),
            DataLoader(val_data, t.eval_batch_size, shuffle=False, num_workers=workers))


def _trainer(cfg: EmoticConfig, run_dir: Path, steps: int,
             callbacks: Sequence[L.Callback] = ()) -> tuple[L.Trainer, ModelCheckpoint]:
    return build_trainer(cfg.trainer, run_dir, MONITOR, steps, extra_callbacks=callbacks)


def train_emotic(cfg: EmoticConfig, resume: bool = False, command: str | None = None,
                 callbacks: Sequence[L.Callback] = ()) -> TrainResult:
    """Train a multi-stream EMOTIC model, keep the best checkpoint on val/mAP, export it."""
    run_dir, last_ckpt = start_run(cfg, resume)
    records = read_emotic_records(cfg)  # data errors before the backbones are built
    network = build_emotic_network(cfg)
    if cfg.model.freeze_backbones:
        network.backbones.requires_grad_(False)
    train, val = load_emotic_splits(cfg, network, records)
    card = _card(cfg, network, train, command or default_command())
    loss = LOSSES.build("combined", categorical=cfg.loss.categorical, vad=cfg.loss.vad,
                        categorical_weight=cfg.loss.categorical_weight,
                        vad_weight=cfg.loss.vad_weight,
                        categorical_kwargs=cfg.loss.categorical_kwargs,
                        vad_kwargs=cfg.loss.vad_kwargs)
    module = MultiStreamModule(network, loss, cfg.optim, EMOTIC_CATEGORIES.labels,
                               train.vad_stats, cfg.model.freeze_backbones, to_dict(cfg),
                               card=card.to_dict())
    train_loader, val_loader = _loaders(cfg, network, train, val)
    open_run(cfg, run_dir)
    write_resampling_report(train_loader.dataset, run_dir)
    trainer, checkpoint = _trainer(cfg, run_dir, len(train_loader), callbacks)
    fit_resumable(trainer, run_dir, last_ckpt, resume, model=module,
                  train_dataloaders=train_loader, val_dataloaders=val_loader)
    return _finish(cfg, run_dir, trainer, module, checkpoint, card, val)


def _finish(cfg: EmoticConfig, run_dir: Path, trainer: L.Trainer, module: MultiStreamModule,
            checkpoint: ModelCheckpoint, card: ModelCard, val: EmoticDataset) -> TrainResult:
    from emoscope.evaluation.emotic import predict_emotic, score_outputs
    from emoscope.evaluation.multilabel import write_report

    if trainer.global_rank != 0:
        return TrainResult(run_dir, run_dir / "model.safetensors", {})
    result = export_best(run_dir, trainer, module, checkpoint, card, MONITOR)
    # the validation persons as trained on (data.limit included), with the exported network
    report = score_outputs(predict_emotic(result.network, val, cfg.trainer.eval_batch_size),
                           EMOTIC_CATEGORIES.labels, val.vad_stats)
    report.update(model=cfg.name, dataset="emotic", root=cfg.data.root,
                  split=cfg.data.val_split)
    write_report(report, run_dir, stem="val_metrics")
    return result

