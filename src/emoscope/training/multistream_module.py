"""The LightningModule of multi-stream (context / body / face) emotion models: network, loss
and optimiser settings are passed in; validation scores mAP (26 categories) and VAD MAE."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from emoscope.data.emotic.dataset import VadStats
from emoscope.evaluation.emotic import score_outputs
from emoscope.training.emotic_config import EmoticOptimConfig
from emoscope.training.schedules import parameter_groups

MONITOR = "val/mAP"


class MultiStreamModule(L.LightningModule):
    """Trains a ``MultiStreamModel`` on image batches or on cached per-stream features.

    A batch is a dict from ``EmoticDataset`` (images per stream) or ``CachedFeatures``
    (``features`` per stream); both carry ``stream_mask``, ``categories`` and ``vad``.
    loss: a ``combined``-style module returning ``{"loss", ...}`` from (outputs, targets).
    vad_stats: targets are normalised to [-1, 1]; VAD MAE is reported back on 1-10.
    freeze_backbones: backbones get no gradient and stay in eval mode (fixed BatchNorm).
    """

    def __init__(self, network: nn.Module, loss: nn.Module, optim: EmoticOptimConfig,
                 category_labels: Sequence[str], vad_stats: VadStats | None = None,
                 freeze_backbones: bool = False, config: dict[str, Any] | None = None,
                 card: dict[str, Any] | None = None):
        super().__init__()
        self.network = network
        self.loss = loss
        self.optim = optim
        self.category_labels = list(category_labels)
        self.vad_stats = vad_stats
        self.freeze_backbones = freeze_backbones
        if freeze_backbones:
            network.backbones.requires_grad_(False)
        self.config = config or {}
        self.card = card  # the model card (as a dict), so a .ckpt can be evaluated on its own
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

    def configure_optimizers(self):
        param_groups = parameter_groups(self.network.parameters(),
                                        self.network.backbones.parameters(), self.optim)
        kinds = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
        if self.optim.optimizer not in kinds:
            from emoscope.errors import UserError

            raise UserError(f"unknown optimizer '{self.optim.optimizer}'; known: adam, adamw")
        optimizer = kinds[self.optim.optimizer](param_groups, lr=self.optim.lr)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=self.optim.plateau_factor,
            patience=self.optim.plateau_patience)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "monitor": MONITOR, "strict": False}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["emoscope_config"] = self.config
        if self.card is not None:
            checkpoint["emoscope_card"] = self.card

