"""Optimiser parameter groups and learning-rate schedules (``optim.scheduler``) shared by
every task's LightningModule."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import lightning as L
import torch


def parameter_groups(params: Iterable[torch.nn.Parameter],
                     backbone: Iterable[torch.nn.Parameter], optim: Any) -> list[dict[str, Any]]:
    """Groups of the trainable ``params``: those also in ``backbone`` at ``optim.lr x
    optim.backbone_lr_mult``, the rest at ``optim.lr``; weight decay on weight matrices and
    kernels only, never on biases or norm scales."""
    backbone_ids = {id(p) for p in backbone}
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for param in params:
        if param.requires_grad:
            groups.setdefault((id(param) in backbone_ids, param.ndim > 1), []).append(param)
    return [{"params": members,
             "lr": optim.lr * (optim.backbone_lr_mult if in_backbone else 1.0),
             "weight_decay": optim.weight_decay if decays else 0.0}
            for (in_backbone, decays), members in groups.items()]


def with_schedule(optimizer: torch.optim.Optimizer, optim: Any, trainer: L.Trainer,
                  monitor: str, strict: bool = True) -> Any:
    """What ``configure_optimizers`` returns for ``optim.scheduler``: ``plateau``
    (ReduceLROnPlateau on ``monitor``, mode max), ``cosine`` (per-step cosine decay after a
    linear warm-up of ``optim.warmup_epochs``) or anything else (the optimizer alone)."""
    if optim.scheduler == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=optim.plateau_factor, patience=optim.plateau_patience)
        lr_scheduler = {"scheduler": scheduler, "monitor": monitor}
        if not strict:
            lr_scheduler["strict"] = False
        return {"optimizer": optimizer, "lr_scheduler": lr_scheduler}
    if optim.scheduler == "cosine":
        total = max(1, int(trainer.estimated_stepping_batches))
        warmup = int(optim.warmup_epochs * total / max(1, trainer.max_epochs or 1))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / max(1, warmup)
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
    return optimizer
