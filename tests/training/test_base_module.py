"""Every task's LightningModule gets its optimiser, schedule and checkpoint contents from
``TaskModule`` and one ``OptimConfig``; each task keeps its own defaults."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from emoscope.errors import UserError
from emoscope.training.base_module import TaskModule
from emoscope.training.clef_config import ClefConfig
from emoscope.training.config import OptimConfig, TrainConfig
from emoscope.training.emotic_config import EmoticConfig
from emoscope.training.multistream_module import MultiStreamModule


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)


class _Trainer:
    estimated_stepping_batches = 10
    max_epochs = 2


def _configured(module: TaskModule):
    module.__dict__["_trainer"] = _Trainer()  # what configure_optimizers reads of the trainer
    return module.configure_optimizers()


def test_one_optim_config_with_each_task_defaults():
    emotic, clef, face = EmoticConfig().optim, ClefConfig().optim, TrainConfig().optim
    assert type(emotic) is type(clef) is type(face) is OptimConfig
    assert (emotic.optimizer, emotic.lr, emotic.weight_decay, emotic.scheduler,
            emotic.plateau_factor, emotic.plateau_patience) == ("adam", 1e-3, 0.0, "plateau",
                                                                 0.1, 3)
    assert (clef.optimizer, clef.lr, clef.weight_decay, clef.scheduler) == ("adam", 1e-3, 0.0,
                                                                            "none")
    assert (face.optimizer, face.scheduler) == ("adamw", "cosine")


def test_backbone_rate_and_decay_groups():
    optim = OptimConfig(optimizer="adam", lr=0.1, backbone_lr_mult=0.5, weight_decay=0.01,
                        scheduler="none")
    optimizer = _configured(TaskModule(_Net(), None, optim))
    assert isinstance(optimizer, torch.optim.Adam)
    rates = sorted((g["lr"], g["weight_decay"], len(g["params"]))
                   for g in optimizer.param_groups)
    assert rates == [(0.05, 0.0, 1), (0.05, 0.01, 1), (0.1, 0.0, 1), (0.1, 0.01, 1)]


def test_emotic_plateau_follows_map_and_tolerates_a_missing_score():
    net = nn.Module()
    net.backbones = nn.Linear(3, 3)
    net.fusion = nn.Linear(3, 2)
    module = MultiStreamModule(net, nn.Identity(), EmoticConfig().optim, ["a", "b"])
    configured = module.configure_optimizers()  # outside a Trainer (benchmarks/bench_emotic.py)
    scheduler = configured["lr_scheduler"]
    assert isinstance(scheduler["scheduler"], torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert scheduler["scheduler"].factor == pytest.approx(0.1)
    assert scheduler["monitor"] == "val/mAP" and scheduler["strict"] is False


def test_cosine_schedule_and_checkpoint_contents():
    module = TaskModule(_Net(), None, OptimConfig(warmup_epochs=0), config={"name": "x"},
                        card={"name": "card"})
    configured = _configured(module)
    assert isinstance(configured["optimizer"], torch.optim.AdamW)
    assert configured["lr_scheduler"]["interval"] == "step"
    checkpoint: dict = {}
    module.on_save_checkpoint(checkpoint)
    assert checkpoint == {"emoscope_config": {"name": "x"}, "emoscope_card": {"name": "card"}}


def test_unknown_optimizer_is_one_line():
    with pytest.raises(UserError, match="unknown optimizer 'sgd'; known: adam, adamw"):
        _configured(TaskModule(_Net(), None, OptimConfig(optimizer="sgd")))
