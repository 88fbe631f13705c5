"""The LightningModule: network, loss and optimiser settings are passed in, never hard-coded."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from emoscope.data.augment import FaceBatchTransform
from emoscope.models.ensemble import with_mirror_image
from emoscope.training.base_module import TaskModule
from emoscope.training.config import DistillConfig, OptimConfig
from emoscope.training.losses import distillation_loss
from emoscope.training.mixup import mix_batch


class ClassifierModule(TaskModule):
    """Single-label classification with on-device augmentation, MixUp and distillation."""

    def __init__(
        self,
        network: nn.Module,
        loss: nn.Module,
        optim: OptimConfig,
        transform: FaceBatchTransform,
        num_classes: int,
        mixup_alpha: float = 0.0,
        teacher: nn.Module | None = None,
        teacher_size: int | None = None,
        distill: DistillConfig | None = None,
        tta_flip: bool = True,
        config: dict[str, Any] | None = None,
        card: dict[str, Any] | None = None,
    ):
        super().__init__(network, loss, optim, config, card)
        self.transform = transform
        self.num_classes = num_classes
        self.mixup_alpha = mixup_alpha
        self.teacher = teacher.eval().requires_grad_(False) if teacher is not None else None
        self.teacher_size = teacher_size
        self.distill = distill or DistillConfig()
        self.tta_flip = tta_flip
        self.val_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.val_accuracy_flip = MulticlassAccuracy(num_classes, average="micro")
        self.val_macro_f1 = MulticlassF1Score(num_classes, average="macro")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)["logits"]

    def training_step(self, batch, batch_idx):
        images, targets, labels = batch
        sizes = (self.transform.image_size,)
        if self.teacher is not None:
            sizes = (self.transform.image_size, self.teacher_size)
        views = self.transform(images, True, sizes)
        views = views if isinstance(views, tuple) else (views,)
        if self.mixup_alpha > 0:
            views, targets = mix_batch(views, targets, self.num_classes, self.mixup_alpha)
        student_in = views[0]
        teacher_in = views[1] if len(views) > 1 else None
        logits = self(student_in)
        loss = self.loss(logits, targets)
        if self.teacher is not None:
            with torch.no_grad():
                teacher_logits = self.teacher_logits(teacher_in)
            kd = distillation_loss(logits, teacher_logits, self.distill.temperature)
            loss = (1 - self.distill.alpha) * loss + self.distill.alpha * kd
            self.log("train/distill", kd, on_step=False, on_epoch=True, sync_dist=True)
        accuracy = (logits.argmax(1) == labels).float().mean()
        # sync_dist: under DDP each epoch value is the mean over every process, not rank 0's
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 sync_dist=True)
        self.log("train/accuracy", accuracy, on_step=False, on_epoch=True, sync_dist=True)
        return loss

    def teacher_logits(self, images: torch.Tensor) -> torch.Tensor:
        """The teacher's logits; with ``distill.teacher_flip`` the log of its probabilities
        averaged over the images and their mirror images."""
        logits = self.teacher(images)["logits"]
        if not self.distill.teacher_flip:
            return logits
        averaged = with_mirror_image(logits.float().softmax(1),
                                     lambda x: self.teacher(x)["logits"], images)
        return averaged.clamp_min(1e-7).log()

    def validation_step(self, batch, batch_idx):
        images, _, labels = batch
        inputs = self.transform(images, False)
        logits = self(inputs)
        self.val_accuracy.update(logits, labels)
        self.val_macro_f1.update(logits, labels)
        self.log("val/loss", nn.functional.cross_entropy(logits.float(), labels), on_epoch=True,
                 sync_dist=True)
        if self.tta_flip:
            probs = with_mirror_image(logits.float().softmax(1), self, inputs)
            self.val_accuracy_flip.update(probs, labels)

    def on_validation_epoch_end(self) -> None:
        self.log("val/accuracy", self.val_accuracy.compute(), prog_bar=True)
        self.log("val/macro_f1", self.val_macro_f1.compute())
        self.val_accuracy.reset()
        self.val_macro_f1.reset()
        if self.tta_flip:
            self.log("val/accuracy_flip", self.val_accuracy_flip.compute())
            self.val_accuracy_flip.reset()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        if self.teacher is not None:  # the teacher is an input, not part of the trained model
            checkpoint["state_dict"] = {
                k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("teacher.")
            }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.teacher is not None:
            for key, value in self.teacher.state_dict().items():
                checkpoint["state_dict"].setdefault(f"teacher.{key}", value)
