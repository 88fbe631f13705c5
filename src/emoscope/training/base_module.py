"""The LightningModule base of every training task: it owns the optimiser, the learning-rate
schedule and what a checkpoint carries; a task's module adds its steps and validation scores.

A subclass sets ``monitor`` (the validation score the plateau schedule and the best
checkpoint follow) and, where its parameters are not ``network``'s alone or its backbone is
not ``network.backbone``, overrides ``trainable_parameters`` / ``backbone_parameters``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import lightning as L
import torch
from torch import nn

from emoscope.errors import UserError
from emoscope.training.config import OptimConfig
from emoscope.training.schedules import parameter_groups, with_schedule

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


class TaskModule(L.LightningModule):
    """network, loss and ``optim`` are passed in; ``config`` (the run's config as a dict) and
    ``card`` (the model card as a dict) travel in every checkpoint, so a ``.ckpt`` can be
    evaluated and resumed on its own."""

    monitor = "val/accuracy"
    strict_monitor = True  # False: a validation pass may log no monitored score

    def __init__(self, network: nn.Module, loss: nn.Module | None, optim: OptimConfig,
                 config: dict[str, Any] | None = None, card: dict[str, Any] | None = None):
        super().__init__()
        self.network, self.loss, self.optim = network, loss, optim
        self.config, self.card = config or {}, card

    def trainable_parameters(self) -> Iterable[nn.Parameter]:
        return self.network.parameters()

    def backbone_parameters(self) -> Iterable[nn.Parameter]:
        """The parameters trained at ``optim.lr x optim.backbone_lr_mult``."""
        backbone = getattr(self.network, "backbone", None)
        return backbone.parameters() if backbone is not None else ()

    def optimizer_groups(self) -> list[dict[str, Any]]:
        return parameter_groups(self.trainable_parameters(), self.backbone_parameters(),
                                self.optim)

    def configure_optimizers(self):
        if self.optim.optimizer not in OPTIMIZERS:
            raise UserError(f"unknown optimizer '{self.optim.optimizer}'; known: "
                            f"{', '.join(OPTIMIZERS)}")
        optimizer = OPTIMIZERS[self.optim.optimizer](self.optimizer_groups(), lr=self.optim.lr)
        # the trainer only where the schedule needs it (cosine), so a module outside a Trainer
        # (benchmarks/bench_emotic.py) gets its optimiser and plateau schedule too
        return with_schedule(optimizer, self.optim, self._trainer, self.monitor,
                             strict=self.strict_monitor)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["emoscope_config"] = self.config
        if self.card is not None:
            checkpoint["emoscope_card"] = self.card
