"""``train_affwild2(cfg)``: a multi-task Aff-Wild2 run, or a bagged ensemble of them.

One member writes the usual run folder (config.yaml, checkpoints/{best,last}.ckpt,
metrics.csv, history.png, model.{safetensors,json}, final_metrics.json and val_metrics.{txt,
json} with the challenge metrics of the exported model). With ``balance.subsets: N`` (and
``member: -1``) N members train on disjoint subsets under ``out_dir/name/member_<i>/``, and
``out_dir/name/ensemble.{safetensors,json}`` averages them, scored in ensemble_metrics.*.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, Dataset

from emoscope.config import to_dict
from emoscope.data.affwild2 import MultiTaskFaces
from emoscope.data.augment import FaceBatchTransform
from emoscope.data.balancing import training_indices
from emoscope.models.backbones import backbone_preprocessing
from emoscope.models.files.checkpoint import ModelCard, load_model
from emoscope.models.multitask import OUTPUTS
from emoscope.registry import DATASETS, LOSSES, MODELS
from emoscope.training.affwild2_config import AffWild2Config
from emoscope.training.multitask_module import MONITOR, MultiTaskModule
from emoscope.training.resume import ResumableLoader
from emoscope.training.run import (
    TrainResult,
    build_trainer,
    default_command,
    export_best,
    fit_resumable,
    open_run,
)
from emoscope.training.run import start_run as _start_run
from emoscope.utils.files import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class AffWild2Result(TrainResult):
    members: list[TrainResult] = field(default_factory=list)


class FrameDataset(Dataset):
    """Row ``index[i]`` of decoded frames -> (uint8 (3, H, W), expression, VA, AUs); no copy."""

    def __init__(self, faces: MultiTaskFaces, index: np.ndarray | None = None):
        self.images = torch.from_numpy(np.ascontiguousarray(faces.images)).permute(0, 3, 1, 2)
        self.expressions = torch.from_numpy(faces.expressions)
        self.valence_arousal = torch.from_numpy(faces.valence_arousal.astype(np.float32))
        self.action_units = torch.from_numpy(faces.action_units.astype(np.float32))
        self.index = torch.as_tensor(np.arange(len(faces)) if index is None else index)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i):
        row = self.index[i]
        return (self.images[row], self.expressions[row], self.valence_arousal[row],
                self.action_units[row])


def load_splits(cfg: AffWild2Config) -> tuple[MultiTaskFaces, MultiTaskFaces]:
    d = cfg.data
    kwargs = {"cache_dir": d.cache_dir or None, "image_size": d.image_size, "layout": d.layout,
              "frame_step": d.frame_step}
    train = DATASETS.build(d.dataset, root=d.root, split=d.train_split, **kwargs)
    val = DATASETS.build(d.dataset, root=d.root, split=d.val_split, **kwargs)
    if d.limit > 0:
        train, val = train.subset(np.arange(min(d.limit, len(train)))), \
            val.subset(np.arange(min(d.limit, len(val))))
    return train, val


def build_multitask_network(cfg: AffWild2Config) -> tuple[torch.nn.Module, dict[str, Any]]:
    m = cfg.model
    kwargs = {"backbone": m.backbone, "attention_dim": m.attention_dim, "num_heads": m.num_heads,
              "dropout": m.dropout, "heavy_dropout": m.heavy_dropout,
              "hidden_dim": m.hidden_dim, **m.kwargs}
    network = MODELS.build(m.architecture, pretrained=m.pretrained, **kwargs)
    if m.init_from:
        start, _ = load_model(m.init_from)
        network.load_state_dict(start.state_dict())
    return network, kwargs


def _loss(cfg: AffWild2Config, train: MultiTaskFaces, index: np.ndarray) -> torch.nn.Module:
    c = cfg.loss
    kwargs: dict[str, Any] = {"expression_weight": c.expression_weight, "va_weight": c.va_weight,
                              "au_weight": c.au_weight, "va_loss": c.va_loss,
                              "label_smoothing": c.label_smoothing, "uncertainty": c.uncertainty}
    expressions = train.expressions[index]
    if c.class_weights:
        counts = np.bincount(expressions[expressions >= 0], minlength=8).astype(np.float64)
        weights = np.where(counts > 0, counts.sum() / (8 * np.maximum(counts, 1)), 0.0)
        kwargs["class_weights"] = torch.tensor(weights, dtype=torch.float32)
    if c.au_pos_weight:
        aus = train.action_units[index]
        aus = aus[(aus >= 0).all(1)]
        positives = aus.sum(0)
        kwargs["au_pos_weight"] = torch.tensor(
            (len(aus) - positives) / np.maximum(positives, 1), dtype=torch.float32)
    return LOSSES.build("multitask", **kwargs)


def _card(cfg: AffWild2Config, kwargs: dict[str, Any], network, train: MultiTaskFaces,
          name: str, command: str) -> ModelCard:
    prep = backbone_preprocessing(network.backbone, cfg.model.input_size)
    extra: dict[str, Any] = {"au_labels": list(train.au_space.labels),
                             "au_threshold": cfg.trainer.au_threshold}
    if cfg.data.image_size < cfg.model.input_size:  # live crops first shrink to the frames' size
        extra["native_resolution"] = cfg.data.image_size
    return ModelCard(
        name=name, architecture=cfg.model.architecture, architecture_kwargs=kwargs,
        label_space=train.expression_space, preprocessing=prep, outputs=list(OUTPUTS),
        data=f"affwild2 {cfg.data.train_split} (validated on {cfg.data.val_split})",
        recipe=json.dumps(to_dict(cfg), sort_keys=True), command=command,
        extra=extra)


def _trainer(cfg: AffWild2Config, run_dir: Path, steps: int) -> tuple[L.Trainer,
                                                                      ModelCheckpoint]:
    return build_trainer(cfg.trainer, run_dir, MONITOR, steps)


def train_member(cfg: AffWild2Config, member: int, train: MultiTaskFaces,
                 val: MultiTaskFaces, resume: bool = False,
                 command: str | None = None) -> TrainResult:
    """Train ``member`` (0 for a single model) on its balanced subset; export and score it."""
    run_cfg = copy.deepcopy(cfg)
    if cfg.balance.subsets > 1:
        run_cfg.out_dir, run_cfg.name = str(Path(cfg.out_dir) / cfg.name), f"member_{member}"
        run_cfg.member, run_cfg.trainer.seed = member, cfg.trainer.seed + member
    run_dir, last_ckpt = _start_run(run_cfg, resume)
    index = training_indices(train.expressions, train.action_units,
                             train.expression_space.labels, train.au_space.labels,
                             cfg.balance, member, train.videos)
    log.info("member %d trains on %d frames", member, len(index))
    network, kwargs = build_multitask_network(run_cfg)
    open_run(run_cfg, run_dir)
    _record_frames(run_dir, train, index)
    name = cfg.name if cfg.balance.subsets <= 1 else f"{cfg.name}-member{member}"
    card = _card(run_cfg, kwargs, network, train, name, command or default_command())
    prep = card.preprocessing
    transform = FaceBatchTransform(cfg.model.input_size, prep.mean, prep.std, cfg.augment)
    module = MultiTaskModule(network.to(memory_format=torch.channels_last),
                             _loss(cfg, train, index), cfg.optim, transform,
                             train.expression_space.labels, train.au_space.labels,
                             cfg.trainer.au_threshold, to_dict(run_cfg), card.to_dict())
    t = run_cfg.trainer
    generator = torch.Generator().manual_seed(t.seed)
    drop_last = len(index) > t.batch_size  # BatchNorm in the fusion needs batches of 2+
    train_loader = ResumableLoader(FrameDataset(train, index), t.batch_size, shuffle=True,
                                   generator=generator, drop_last=drop_last)
    val_loader = DataLoader(FrameDataset(val), t.eval_batch_size, shuffle=False)
    trainer, checkpoint = _trainer(run_cfg, run_dir, len(train_loader))
    fit_resumable(trainer, run_dir, last_ckpt, resume, model=module,
                  train_dataloaders=train_loader, val_dataloaders=val_loader)
    return _finish(run_cfg, run_dir, trainer, module, checkpoint, card, val)


def _record_frames(run_dir: Path, train: MultiTaskFaces, index: np.ndarray) -> None:
    """``train_frames.json``: which frames this run trained on, after balancing."""
    expressions = train.expressions[index]
    counts = {name: int((expressions == i).sum())
              for i, name in enumerate(train.expression_space.labels)}
    distinct = np.unique(index)
    atomic_write_text(run_dir / "train_frames.json", json.dumps({
        "rows": int(len(index)), "distinct_frames": int(len(distinct)),
        "expression_counts": counts, "no_expression": int((expressions < 0).sum()),
        "sources": [train.sources[i] for i in distinct]}, indent=1))


def _finish(cfg: AffWild2Config, run_dir: Path, trainer: L.Trainer, module: MultiTaskModule,
            checkpoint: ModelCheckpoint, card: ModelCard, val: MultiTaskFaces) -> TrainResult:
    from emoscope.evaluation.affwild2 import (
        challenge_report,
        dataset_targets,
        predict_multitask,
        write_report,
    )

    if trainer.global_rank != 0:
        return TrainResult(run_dir, run_dir / "model.safetensors", {})
    result = export_best(run_dir, trainer, module, checkpoint, card, MONITOR)
    outputs = predict_multitask(result.network, card, val.images, cfg.trainer.eval_batch_size)
    report = challenge_report(dataset_targets(val), outputs, card.label_space.labels,
                              card.extra["au_labels"], cfg.trainer.au_threshold)
    report.update(model=card.name, dataset="affwild2", split=cfg.data.val_split)
    write_report(report, run_dir, stem="val_metrics")
    return result


def train_affwild2(cfg: AffWild2Config, resume: bool = False,
                   command: str | None = None) -> AffWild2Result:
    """Train one model, one ensemble member (``member >= 0``) or the whole ensemble."""
    from emoscope.errors import UserError

    if cfg.trainer.num_threads > 0:
        torch.set_num_threads(cfg.trainer.num_threads)
    subsets = max(1, cfg.balance.subsets)
    if cfg.member >= subsets:
        raise UserError(f"member {cfg.member} but balance.subsets is {subsets}")
    train, val = load_splits(cfg)
    members = [cfg.member] if cfg.member >= 0 else list(range(subsets))
    results = [train_member(cfg, m, train, val, resume, command) for m in members]
    if subsets == 1 or cfg.member >= 0:
        r = results[0]
        return AffWild2Result(r.run_dir, r.model_path, r.metrics, r.history, r.network, results)
    return _ensemble(cfg, results, val, command)


def _ensemble(cfg: AffWild2Config, results: list[TrainResult], val: MultiTaskFaces,
              command: str | None) -> AffWild2Result:
    from emoscope.evaluation.affwild2 import (
        challenge_report,
        dataset_targets,
        predict_multitask,
        write_report,
    )
    from emoscope.models.ensemble import save_ensemble

    root = Path(cfg.out_dir) / cfg.name
    path = save_ensemble([r.model_path for r in results], root / "ensemble",
                         name=f"{cfg.name}-ensemble", command=command or default_command())
    model, card = load_model(path)
    outputs = predict_multitask(model, card, val.images, cfg.trainer.eval_batch_size)
    report = challenge_report(dataset_targets(val), outputs, card.label_space.labels,
                              card.extra["au_labels"], cfg.trainer.au_threshold)
    report.update(model=card.name, dataset="affwild2", split=cfg.data.val_split)
    write_report(report, root, stem="ensemble_metrics")
    metrics = {"val/score": round(float(report["score"]), 4),
               **{f"val/{k}": round(float(v), 4) for k, v in report["score_parts"].items()}}
    return AffWild2Result(root, path, metrics, [], model, results)
