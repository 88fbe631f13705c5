"""The LightningModule of the multi-task face model: network, loss and optimiser settings are
passed in; validation reports the Aff-Wild2 challenge metrics (``val/score`` and its parts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from emoscope.data.augment import FaceBatchTransform
from emoscope.evaluation.affwild2 import challenge_report
from emoscope.training.base_module import TaskModule
from emoscope.training.config import OptimConfig

MONITOR = "val/score"


class MultiTaskModule(TaskModule):
    """Batches are ``(uint8 images (N, 3, h, w), expression, valence_arousal, action_units)``
    with the dataset's missing markers; ``loss`` is a ``multitask`` loss (its own parameters,
    e.g. uncertainty weights, are optimised too)."""

    monitor = MONITOR
    strict_monitor = False

    def __init__(self, network: nn.Module, loss: nn.Module, optim: OptimConfig,
                 transform: FaceBatchTransform, expression_labels: Sequence[str],
                 au_labels: Sequence[str], au_threshold: float = 0.5,
                 config: dict[str, Any] | None = None, card: dict[str, Any] | None = None):
        super().__init__(network, loss, optim, config, card)
        self.transform = transform
        self.expression_labels = list(expression_labels)
        self.au_labels = list(au_labels)
        self.au_threshold = au_threshold
        self.last_report: dict[str, Any] = {}
        self._val: dict[str, list[torch.Tensor]] = {}

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.network(images)

    @staticmethod
    def _targets(batch) -> dict[str, torch.Tensor]:
        _, expression, valence_arousal, action_units = batch
        return {"expression": expression, "valence_arousal": valence_arousal,
                "action_units": action_units}

    def training_step(self, batch, batch_idx):
        outputs = self(self.transform(batch[0], True))
        parts = self.loss(outputs, self._targets(batch))
        n = len(batch[0])
        self.log("train/loss", parts["loss"], on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=n)
        for key in ("expression", "valence_arousal", "action_units"):
            if key in parts:
                self.log(f"train/loss_{key}", parts[key], on_step=False, on_epoch=True,
                         batch_size=n)
        return parts["loss"]

    def validation_step(self, batch, batch_idx):
        outputs = self(self.transform(batch[0], False))
        self.log("val/loss", self.loss(outputs, self._targets(batch))["loss"], on_epoch=True,
                 batch_size=len(batch[0]))
        values = {"probabilities": outputs["logits"].float().softmax(1),
                  "valence_arousal": outputs["valence_arousal"].float(),
                  "action_unit_probabilities": torch.sigmoid(outputs["action_units"].float())}
        values.update({f"target_{k}": v for k, v in self._targets(batch).items()})
        for key, value in values.items():
            self._val.setdefault(key, []).append(value.detach().cpu())

    def on_validation_epoch_end(self) -> None:
        collected = {k: torch.cat(v).float().numpy() for k, v in self._val.items()}
        self._val = {}
        if not collected:
            return
        targets = {key: collected.pop(f"target_{key}")
                   for key in ("expression", "valence_arousal", "action_units")}
        targets["expression"] = targets["expression"].astype(np.int64)
        report = challenge_report(targets, collected, self.expression_labels, self.au_labels,
                                  self.au_threshold)
        self.log(MONITOR, float(np.nan_to_num(report["score"])), prog_bar=True)
        for key, value in report["score_parts"].items():
            self.log(f"val/{key}", float(value))
        va = report.get("valence_arousal", {})
        for key in ("ccc_valence", "ccc_arousal"):
            if key in va and not np.isnan(va[key]):
                self.log(f"val/{key}", float(va[key]))
        self.last_report = report

    def trainable_parameters(self):
        return [*self.network.parameters(), *self.loss.parameters()]
