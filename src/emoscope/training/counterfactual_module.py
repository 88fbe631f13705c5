"""The LightningModule of CAER-S / EMOTIC CLEF runs: a plain context-aware model
(cross-entropy, or BCE for multi-label) or a CLEF wrapper (``CounterfactualLoss``);
validation scores every head side by side.

Heads (``HEADS``): ``factual`` (the fused prediction phi(Y_c, Y_e), what the model predicts
*with* the context's direct effect), ``factual_model`` (Y_e, the wrapped model's own logits),
``context`` (Y_c, the context branch alone) and ``tie`` (the debiased prediction). A plain
model has ``factual`` only. The monitored score (``monitor_name``) is ``val/acc`` for
single-label (CAER-S) and ``val/mAP`` for multi-label (EMOTIC), of TIE for CLEF.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from emoscope.errors import UserError
from emoscope.evaluation.counterfactual import head_scores
from emoscope.models.counterfactual import CounterfactualModel, factual_scores
from emoscope.training.base_module import TaskModule
from emoscope.training.config import OptimConfig

HEADS = ("factual", "factual_model", "context", "tie")  # see evaluation.counterfactual


def monitor_name(kind: str) -> str:
    return "val/mAP" if kind == "multi_label" else "val/acc"


MONITOR = monitor_name("single_label")


class CounterfactualModule(TaskModule):
    """Trains ``network`` on CAER-S (``label``) or EMOTIC (``categories``) item dicts.

    loss: a ``CounterfactualLoss`` for a CLEF network, None for a plain one.
    freeze_factual: the wrapped factual model gets no gradient and stays in eval mode.
    vad_weight: EMOTIC, > 0 adds an L2 loss on the factual model's ``vad`` output (EMOT-Net's
    3 continuous heads); ``val/vad_mae`` is then logged on the targets' scale.
    """

    def __init__(self, network: nn.Module, loss: nn.Module | None, optim: OptimConfig,
                 num_classes: int, freeze_factual: bool = False, label_smoothing: float = 0.0,
                 config: dict[str, Any] | None = None, card: dict[str, Any] | None = None,
                 kind: str = "single_label", label_names: Sequence[str] | None = None,
                 vad_weight: float = 0.0):
        super().__init__(network, loss, optim, config, card)
        self.is_clef = isinstance(network, CounterfactualModel)
        if self.is_clef and loss is None:
            raise UserError("a CLEF network needs the clef loss")
        self.freeze_factual = freeze_factual and self.is_clef
        if self.freeze_factual:  # Lightning never calls .train() itself: set the mode here
            network.factual.requires_grad_(False).eval()
        self.label_smoothing = label_smoothing
        self.kind, self.vad_weight = kind, vad_weight
        self.target_key = "categories" if kind == "multi_label" else "label"
        self.monitor = monitor_name(kind)
        self.label_names = list(label_names or [str(i) for i in range(num_classes)])
        self.heads = HEADS if self.is_clef else ("factual",)
        self.accuracy = nn.ModuleDict({h: MulticlassAccuracy(num_classes, average="micro")
                                       for h in self.heads})
        self._val: dict[str, list[np.ndarray]] = {}

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_factual:
            self.network.factual.eval()
        return self

    def on_train_epoch_start(self) -> None:
        if self.freeze_factual:  # fixed BatchNorm statistics, whatever restored the modes
            self.network.factual.eval()

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.network(batch)

    def _plain_loss(self, outputs: dict[str, torch.Tensor], targets: torch.Tensor):
        scores = factual_scores(outputs)
        if self.kind == "multi_label":
            return F.binary_cross_entropy_with_logits(scores, targets.float())
        return F.cross_entropy(scores, targets, label_smoothing=self.label_smoothing)

    def training_step(self, batch, batch_idx):
        outputs = self(batch)
        targets = batch[self.target_key]
        n = int(targets.shape[0])
        if self.is_clef:
            parts = self.loss(outputs, targets, self.network, self.global_step)
            for key in ("factual", "context", "kl"):
                self.log(f"train/loss_{key}", parts[key], on_step=False, on_epoch=True,
                         batch_size=n)
            loss = parts["loss"]
        else:
            loss = self._plain_loss(outputs, targets)
        if self._has_vad(outputs, batch):
            vad_loss = F.mse_loss(outputs["vad"], batch["vad"].float())
            self.log("train/loss_vad", vad_loss, on_step=False, on_epoch=True, batch_size=n)
            loss = loss + self.vad_weight * vad_loss
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        return loss

    def _has_vad(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any]) -> bool:
        return self.vad_weight > 0 and "vad" in outputs and "vad" in batch

    def validation_step(self, batch, batch_idx):
        outputs = self(batch)
        scores = head_scores(self.network, outputs)
        targets = batch[self.target_key]
        if self._has_vad(outputs, batch):
            self._val.setdefault("vad_error", []).append(
                (outputs["vad"] - batch["vad"]).abs().float().cpu().numpy())
        if self.kind == "multi_label":
            for head in self.heads:
                self._val.setdefault(head, []).append(scores[head].float().cpu().numpy())
            self._val.setdefault("target", []).append(targets.float().cpu().numpy())
            return
        for head, metric in self.accuracy.items():
            metric.update(scores[head].argmax(1), targets)

    def on_validation_epoch_end(self) -> None:
        main = "tie" if self.is_clef else "factual"
        if self.kind == "multi_label":
            from emoscope.evaluation.multilabel import mean_average_precision

            collected = {k: np.concatenate(v) for k, v in self._val.items()}
            self._val = {}
            if "vad_error" in collected:
                self.log("val/vad_mae", float(collected["vad_error"].mean()))
            for head in self.heads:
                report = mean_average_precision(collected["target"], collected[head],
                                                self.label_names)
                self.log(f"val/mAP_{head}", float(np.nan_to_num(report["mAP"])))
            self.log(self.monitor, self.trainer.callback_metrics[f"val/mAP_{main}"],
                     prog_bar=True)
            return
        for head, metric in self.accuracy.items():
            self.log(f"val/acc_{head}", metric.compute())
            metric.reset()
        self.log(self.monitor, self.trainer.callback_metrics[f"val/acc_{main}"], prog_bar=True)

    def optimizer_groups(self) -> list[dict[str, Any]]:
        """One group: every trainable parameter at ``optim.lr``, all of them decayed."""
        return [{"params": [p for p in self.network.parameters() if p.requires_grad],
                 "weight_decay": self.optim.weight_decay}]
