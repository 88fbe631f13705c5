"""The LightningModule of multi-stream (context / body / face) emotion models: network, loss
and optimiser settings are passed in; validation scores mAP (26 categories) and VAD MAE."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from emoscope.data.emotic.dataset import VadStats
from emoscope.evaluation.emotic import score_outputs
from emoscope.training.base_module import TaskModule
from emoscope.training.config import OptimConfig

MONITOR = "val/mAP"


class MultiStreamModule(TaskModule):
    """Trains a ``MultiStreamModel`` on image batches or on cached per-stream features.

    A batch is a dict from ``EmoticDataset`` (images per stream) or ``CachedFeatures``
    (``features`` per stream); both carry ``stream_mask``, ``categories`` and ``vad``.
    loss: a ``combined``-style module returning ``{"loss", ...}`` from (outputs, targets).
    vad_stats: targets are normalised to [-1, 1]; VAD MAE is reported back on 1-10.
    freeze_backbones: backbones get no gradient and stay in eval mode (fixed BatchNorm).
    """

    monitor = MONITOR
    strict_monitor = False

    def __init__(self, network: nn.Module, loss: nn.Module, optim: OptimConfig,
                 category_labels: Sequence[str], vad_stats: VadStats | None = None,
                 freeze_backbones: bool = False, config: dict[str, Any] | None = None,
                 card: dict[str, Any] | None = None):
        super().__init__(network, loss, optim, config, card)
        self.category_labels = list(category_labels)
        self.vad_stats = vad_stats
        self.freeze_backbones = freeze_backbones
        if freeze_backbones:
            network.backbones.requires_grad_(False)
        self.last_report: dict[str, Any] = {}
        self._val: dict[str, list[torch.Tensor]] = {}

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_backbones:
            self.network.backbones.eval()
        return self

    def on_train_epoch_start(self) -> None:
        # Lightning restores each submodule's own mode around validation instead of calling
        # ``train()``, so the override above alone lets frozen BatchNorm statistics drift.
        if self.freeze_backbones:
            self.network.backbones.eval()

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        if "features" in batch:
            return self.network.forward_features(batch["features"], batch.get("stream_mask"))
        return self.network(batch)

    @staticmethod
    def _targets(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {key: batch[key] for key in ("categories", "vad") if key in batch}

    def training_step(self, batch, batch_idx):
        outputs = self(batch)
        parts = self.loss(outputs, self._targets(batch))
        n = int(batch["stream_mask"].shape[0])
        self.log("train/loss", parts["loss"], on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=n)
        for key in ("categories", "vad"):
            if key in parts:
                self.log(f"train/loss_{key}", parts[key], on_step=False, on_epoch=True,
                         batch_size=n)
        return parts["loss"]

    def validation_step(self, batch, batch_idx):
        outputs = self(batch)
        n = int(batch["stream_mask"].shape[0])
        self.log("val/loss", self.loss(outputs, self._targets(batch))["loss"], on_epoch=True,
                 batch_size=n)
        for key in ("categories", "vad"):
            if key in outputs:
                self._val.setdefault(key, []).append(outputs[key].detach().float().cpu())
                self._val.setdefault(f"{key}_target", []).append(batch[key].float().cpu())

    def on_validation_epoch_end(self) -> None:
        collected = {k: torch.cat(v).numpy() for k, v in self._val.items()}
        self._val = {}
        report = score_outputs(collected, self.category_labels, self.vad_stats)
        if "mAP" in report:
            self.log(MONITOR, float(np.nan_to_num(report["mAP"])), prog_bar=True)
        if "vad_mae" in report:
            self.log("val/vad_mae", report["vad_mae"]["mean"])
        self.last_report = report

    def backbone_parameters(self):
        return self.network.backbones.parameters()

