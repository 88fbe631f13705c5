"""Lightning pieces of speech training: spectrogram crops as batches, and the module."""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassRecall

from emoscope.data.audio import AudioFrontEnd, fit_frames
from emoscope.data.audio_augment import check_speed_spread, random_speed, speed_perturb
from emoscope.data.speech_arrays import SpeechArrays
from emoscope.training.base_module import TaskModule
from emoscope.training.config import OptimConfig
from emoscope.training.data_module import training_loader
from emoscope.training.mixup import mix_batch
from emoscope.training.speech_teacher import TeacherTargets


class SpectrogramCrops(Dataset):
    """Index -> (log-mel crop (n_mels, frames), label): random crops inside the clip when
    training, the centred crop otherwise. With ``speed_spread`` > 0 each training clip is
    first played at a random speed in [1 - spread, 1 + spread] (needs ``front``).

    With ``teacher`` (training only) each crop starts at one of the teacher's crop positions,
    drawn at random, and a third item is the target distribution
    ``(1 - teacher_weight) * one_hot(label) + teacher_weight * teacher probabilities``."""

    def __init__(self, arrays: SpeechArrays, frames: int, train: bool, seed: int = 0,
                 speed_spread: float = 0.0, front: AudioFrontEnd | None = None,
                 teacher: TeacherTargets | None = None, teacher_weight: float = 0.5):
        self.arrays, self.frames, self.train = arrays, frames, train
        self.rng = np.random.default_rng(seed)
        if speed_spread and front is None:
            raise ValueError("speed perturbation needs the audio front end")
        if speed_spread and teacher is not None:
            raise ValueError("teacher targets were computed at normal speed: use speed "
                             "perturbation or a teacher, not both")
        check_speed_spread(speed_spread)  # no draw: crops stay those of earlier runs
        self.speed_spread, self.front = speed_spread, front
        self.teacher = teacher if train else None
        self.teacher_weight = teacher_weight

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, index: int):
        spec = self.arrays.clip(index)
        length = spec.shape[1]
        if self.train and self.speed_spread > 0:
            spec = speed_perturb(spec, random_speed(self.rng, self.speed_spread), self.front)
            length = spec.shape[1]
        offset = None
        if self.teacher is not None:
            return self._distilled(index, spec)
        if self.train and length > self.frames:
            offset = int(self.rng.integers(0, length - self.frames + 1))
        crop = fit_frames(spec, self.frames, offset)
        return torch.from_numpy(np.ascontiguousarray(crop)), int(self.arrays.labels[index])

    def _distilled(self, index: int, spec: np.ndarray):
        position = int(self.rng.integers(0, self.teacher.offsets.shape[1]))
        crop = fit_frames(spec, self.frames, int(self.teacher.offsets[index, position]))
        label = int(self.arrays.labels[index])
        target = self.teacher_weight * self.teacher.probs[index, position]
        target[label] += 1.0 - self.teacher_weight
        return (torch.from_numpy(np.ascontiguousarray(crop)), label,
                torch.from_numpy(target.astype(np.float32)))


class SpeechDataModule(L.LightningDataModule):
    def __init__(self, train: SpeechArrays, val: SpeechArrays, frames: int, batch_size: int,
                 eval_batch_size: int, seed: int = 0, speed_spread: float = 0.0,
                 front: AudioFrontEnd | None = None, sampler: str = "random",
                 teacher: TeacherTargets | None = None, teacher_weight: float = 0.5):
        super().__init__()
        self.train_set = SpectrogramCrops(train, frames, True, seed, speed_spread, front,
                                          teacher, teacher_weight)
        self.val_set = SpectrogramCrops(val, frames, False)
        self.batch_size, self.eval_batch_size, self.seed = batch_size, eval_batch_size, seed
        self.sampler = sampler

    def train_dataloader(self) -> DataLoader:
        arrays = self.train_set.arrays
        return training_loader(self.train_set, arrays.labels, arrays.label_space.num_classes,
                               self.batch_size, self.sampler, self.seed,
                               drop_last=len(self.train_set) > self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, self.eval_batch_size, shuffle=False)


class SpeechModule(TaskModule):
    """Single-label speech classification: loss and optimiser settings passed in; logs
    val/accuracy, val/uar (unweighted average recall) and val/macro_f1."""

    monitor = "val/uar"

    def __init__(self, network: nn.Module, loss: nn.Module, optim: OptimConfig,
                 num_classes: int, mixup_alpha: float = 0.0,
                 config: dict[str, Any] | None = None, card: dict[str, Any] | None = None):
        super().__init__(network, loss, optim, config, card)
        self.num_classes, self.mixup_alpha = num_classes, mixup_alpha
        seed = int((config or {}).get("trainer", {}).get("seed", 0))
        self._mix_rng = np.random.default_rng(seed)  # MixUp weights reproducible per run
        self.val_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.val_uar = MulticlassRecall(num_classes, average="macro")
        self.val_macro_f1 = MulticlassF1Score(num_classes, average="macro")

    def forward(self, spectrograms: torch.Tensor) -> torch.Tensor:
        return self.network(spectrograms)["logits"]

    def training_step(self, batch, batch_idx):
        spectrograms, labels, *soft = batch  # soft: distillation targets, when a teacher
        targets: torch.Tensor = soft[0] if soft else labels
        if self.mixup_alpha > 0:
            (spectrograms,), targets = mix_batch((spectrograms,), targets, self.num_classes,
                                                 self.mixup_alpha, self._mix_rng)
        logits = self(spectrograms)
        loss = self.loss(logits, targets)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("train/accuracy", (logits.argmax(1) == labels).float().mean(), on_step=False,
                 on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        spectrograms, labels = batch
        logits = self(spectrograms)
        for metric in (self.val_accuracy, self.val_uar, self.val_macro_f1):
            metric.update(logits, labels)
        self.log("val/loss", nn.functional.cross_entropy(logits.float(), labels), on_epoch=True)

    def on_validation_epoch_end(self) -> None:
        self.log("val/accuracy", self.val_accuracy.compute(), prog_bar=True)
        self.log("val/uar", self.val_uar.compute(), prog_bar=True)
        self.log("val/macro_f1", self.val_macro_f1.compute())
        for metric in (self.val_accuracy, self.val_uar, self.val_macro_f1):
            metric.reset()

