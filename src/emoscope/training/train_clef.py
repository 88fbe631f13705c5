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
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader

from emoscope.config import to_dict
from emoscope.data.caer_s import CAER_STREAMS
from emoscope.errors import UserError
from emoscope.labels import CAER_S_LABELS, EMOTIC_CATEGORIES, LabelSpace
from emoscope.models.counterfactual import CounterfactualModel
from emoscope.models.files.checkpoint import ModelCard, load_model
from emoscope.registry import DATASETS, MODELS
from emoscope.training.clef_config import ClefConfig
from emoscope.training.counterfactual_module import CounterfactualModule, monitor_name
from emoscope.training.losses_counterfactual import CounterfactualLoss
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
DATASETS_KNOWN = ("caer_s", "emotic")


def label_space_of(cfg: ClefConfig) -> LabelSpace:
    """CAER-S's 7 classes (single-label) or EMOTIC's 26 categories (multi-label)."""
    if cfg.data.dataset not in DATASETS_KNOWN:
        raise UserError(f"clef runs read {' or '.join(DATASETS_KNOWN)}, not "
                        f"'{cfg.data.dataset}'")
    return EMOTIC_CATEGORIES if cfg.data.dataset == "emotic" else CAER_S_LABELS


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
    factual, spec = _factual(cfg)
    if not cfg.model.debias:
        return factual, spec
    m = cfg.model
    space = label_space_of(cfg)
    network = CounterfactualModel(
        factual, space.num_classes, context_backbone=m.context_backbone,
        context_image_size=m.context_image_size or None, kind=space.kind, fusion=m.fusion,
        space=m.space or None, clamp=m.clamp, pretrained=m.pretrained, factual_config=spec)
    return network, {"architecture": "clef", "kwargs": network.config}


def stream_specs_for(network: nn.Module, augment: str,
                     streams: tuple[str, ...] = CAER_STREAMS) -> dict[str, dict[str, Any]]:
    """Stream specs from the models' preprocessing: the factual model's streams, then the
    context branch's ``context_masked`` if the factual model does not read it."""
    factual = network.factual if isinstance(network, CounterfactualModel) else network
    preprocessing = dict(getattr(factual, "preprocessing", {}) or {})
    if not isinstance(preprocessing, dict) or not preprocessing:
        raise UserError(f"{type(factual).__name__}: no per-stream preprocessing; CAER-S needs "
                        "a context-aware model (caernet_s, face_only, multistream, ...)")
    if isinstance(network, CounterfactualModel):
        preprocessing.setdefault(network.context_key, network.context_branch.preprocessing)
    specs: dict[str, dict[str, Any]] = {}
    for stream in streams:
        prep = preprocessing.get(stream)
        if prep is None:
            specs[stream] = {"size": UNUSED_STREAM_SIZE}
            continue
        specs[stream] = {"size": list(prep.input_size[1:]), "mean": list(prep.mean),
                         "std": list(prep.std), "augment": augment}
    return specs


def read_clef_splits(cfg: ClefConfig) -> dict[str, Any]:
    """Reads (EMOTIC annotations) or lists (CAER-S frames) both splits before any network is
    built, so data errors come first; returns the EMOTIC records per split to reuse."""
    d = cfg.data
    if label_space_of(cfg) is EMOTIC_CATEGORIES:
        from emoscope.data.emotic.reader import read_emotic

        read = {k: d.options[k] for k in ("layout", "face_cache", "include_extra")
                if k in d.options}
        return {split: read_emotic(d.root, split, **read)
                for split in (d.train_split, d.val_split)}
    if d.dataset == "caer_s":
        from emoscope.data.caer_s import find_root, scan_split

        for split in (d.train_split, d.val_split):
            scan_split(find_root(d.root), split)
    return {}


def load_splits(cfg: ClefConfig, network: nn.Module,
                records: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """Train (augmented as configured) and validation datasets of CAER-S or EMOTIC; records:
    ``read_clef_splits(cfg)``, when read already."""
    if label_space_of(cfg) is EMOTIC_CATEGORIES:
        return load_emotic_splits(cfg, network, records or {})
    d = cfg.data
    common = {"root": d.root, "mask": d.mask, "limit": d.limit, **d.options}
    train = DATASETS.build(d.dataset, split=d.train_split, train=True,
                           streams=stream_specs_for(network, d.augment),
                           face_coords=d.face_coords or None, **common)
    val = DATASETS.build(d.dataset, split=d.val_split, train=False,
                         streams=stream_specs_for(network, "none"),
                         face_coords=d.val_face_coords or None, **common)
    return train, val


def load_emotic_splits(cfg: ClefConfig, network: nn.Module,
                       records: dict[str, Any] | None = None) -> tuple[Any, Any]:
    from emoscope.data.emotic.transforms import STREAMS

    d = cfg.data
    masked = stream_specs_for(network, "none", ("context_masked",))["context_masked"]
    common = {"root": d.root, "limit": d.limit, "context_masked": masked, "mask": d.mask,
              **d.options}
    read = {split: {"records": data} for split, data in (records or {}).items()}
    train = DATASETS.build("emotic_clef", split=d.train_split, train=True,
                           streams=stream_specs_for(network, d.augment, STREAMS), **common,
                           **read.get(d.train_split, {}))
    val = DATASETS.build("emotic_clef", split=d.val_split, train=False,
                         streams=stream_specs_for(network, "none", STREAMS), **common,
                         **read.get(d.val_split, {}))
    return train, val


def dataset_entry(cfg: ClefConfig, network: nn.Module) -> dict[str, Any]:
    """What a model card needs to rebuild the evaluation inputs (no augmentation)."""
    if label_space_of(cfg) is EMOTIC_CATEGORIES:
        from emoscope.data.emotic.transforms import STREAMS

        masked = stream_specs_for(network, "none", ("context_masked",))["context_masked"]
        return {"emotic_clef": {"streams": stream_specs_for(network, "none", STREAMS),
                                "context_masked": masked, "mask": cfg.data.mask,
                                **cfg.data.options}}
    return {"caer": {"streams": stream_specs_for(network, "none"), "mask": cfg.data.mask}}


def _card(cfg: ClefConfig, network: nn.Module, spec: dict[str, Any], command: str) -> ModelCard:
    factual = network.factual if isinstance(network, CounterfactualModel) else network
    first = next(iter(factual.preprocessing.values()))
    heads = ["factual", "factual_model", "context", "tie"] if cfg.model.debias else ["factual"]
    space = label_space_of(cfg)
    return ModelCard(
        name=cfg.name, architecture=spec["architecture"], architecture_kwargs=spec["kwargs"],
        label_space=space, preprocessing=first,
        outputs=["categories" if space is EMOTIC_CATEGORIES else "logits"],
        task="context_emotion", data=f"{cfg.data.dataset} {cfg.data.train_split} (validated "
        f"on {cfg.data.val_split})", recipe=json.dumps(to_dict(cfg), sort_keys=True),
        command=command, extra={**dataset_entry(cfg, network), "heads": heads})


def _trainer(cfg: ClefConfig, run_dir: Path, steps: int) -> tuple[L.Trainer, ModelCheckpoint]:
    return build_trainer(cfg.trainer, run_dir, monitor_name(label_space_of(cfg).kind), steps)


def train_clef(cfg: ClefConfig, resume: bool = False, command: str | None = None) -> TrainResult:
    """Train on CAER-S (EMOTIC), keep the best checkpoint on ``val/acc`` (``val/mAP``) of TIE
    for CLEF, of the model for a plain run, and export it."""
    run_dir, last_ckpt = start_run(cfg, resume)
    space = label_space_of(cfg)
    records = read_clef_splits(cfg)  # data errors before the backbones are built
    network, spec = build_clef_network(cfg)
    train, val = load_splits(cfg, network, records)
    card = _card(cfg, network, spec, command or default_command())
    loss = None
    if cfg.model.debias:
        loss = CounterfactualLoss(cfg.loss.factual_weight, cfg.loss.context_weight,
                                  cfg.loss.kl_weight, cfg.loss.warmup_steps,
                                  cfg.loss.label_smoothing)
    module = CounterfactualModule(network, loss, cfg.optim, space.num_classes,
                                  cfg.model.freeze_factual, cfg.loss.label_smoothing,
                                  to_dict(cfg), card=card.to_dict(), kind=space.kind,
                                  label_names=space.labels, vad_weight=cfg.loss.vad_weight)
    t = cfg.trainer
    generator = torch.Generator().manual_seed(t.seed)
    drop_last = len(train) > t.batch_size and len(train) % t.batch_size == 1
    train_loader = ResumableLoader(train, t.batch_size, shuffle=True, generator=generator,
                                   num_workers=cfg.data.num_workers, drop_last=drop_last)
    val_loader = DataLoader(val, t.eval_batch_size, num_workers=cfg.data.num_workers)
    open_run(cfg, run_dir)
    trainer, checkpoint = _trainer(cfg, run_dir, len(train_loader))
    fit_resumable(trainer, run_dir, last_ckpt, resume, model=module,
                  train_dataloaders=train_loader, val_dataloaders=val_loader)
    return _finish(cfg, run_dir, trainer, module, checkpoint, card, val)


def _finish(cfg: ClefConfig, run_dir: Path, trainer: L.Trainer, module: CounterfactualModule,
            checkpoint: ModelCheckpoint, card: ModelCard, val: Any) -> TrainResult:
    from emoscope.evaluation.counterfactual import predict_heads, score_heads
    from emoscope.evaluation.evaluate import write_report

    if trainer.global_rank != 0:
        return TrainResult(run_dir, run_dir / "model.safetensors", {})
    result = export_best(run_dir, trainer, module, checkpoint, card, module.monitor)
    report = score_heads(predict_heads(result.network, val, cfg.trainer.eval_batch_size),
                         card.label_space.labels)
    report.update(model=cfg.name, dataset=cfg.data.dataset, root=cfg.data.root,
                  split=cfg.data.val_split)
    write_report(report, run_dir / "val_report.json")
    return result
