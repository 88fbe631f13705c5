"""Typed configuration of a speech emotion training run (``task: speech`` in the YAML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emoscope.data.audio import AudioFrontEnd
from emoscope.training.config import LossConfig, OptimConfig, TrainerConfig


@dataclass
class SpeechDataConfig:
    dataset: str = "ravdess"  # a DATASETS registry name returning SpeechArrays
    root: str = "../shared/data/ravdess"
    train_split: str = "train"
    val_split: str = "val"
    cache_dir: str = ".cache/datasets"
    crop_seconds: float = 3.0  # training: random crops; validation: the centred crop
    speed_perturb: float = 0.0  # training: each clip at a random speed in [1 - s, 1 + s]
    teacher: str = ""  # export_speech_teacher.py file: distil its probabilities ("" = off)
    teacher_weight: float = 0.5  # target = (1 - w) one-hot + w teacher probabilities
    kwargs: dict[str, Any] = field(default_factory=dict)  # label_set, num_folds, val_fold, ...


@dataclass
class SpeechModelConfig:
    architecture: str = "speech_timm"  # a MODELS registry name: speech_timm | speech_cnn
    backbone: str = "tf_efficientnet_lite0"  # speech_timm only
    pretrained: str = "auto"  # none | offline | online | auto
    dropout: float = 0.3
    spec_augment: bool = True
    kwargs: dict[str, Any] = field(default_factory=dict)  # extra architecture arguments


@dataclass
class SpeechProbeConfig:
    """``enabled``: instead of gradient training, fit a linear probe on the frozen pretrained
    encoder (``speech_ge2e``; emoscope.training.speech_probe), C chosen from ``cs`` by
    leave-speakers-out cross-validation inside the training speakers."""

    enabled: bool = False
    cs: list[float] = field(default_factory=lambda: [0.001, 0.003, 0.01, 0.03, 0.1])


def _speech_trainer() -> TrainerConfig:
    return TrainerConfig(max_epochs=30, batch_size=32, eval_batch_size=64, monitor="val/uar",
                         tta_flip=False)


@dataclass
class SpeechTrainConfig:
    task: str = "speech"
    name: str = "ravdess-speech"
    out_dir: str = "runs/speech"
    data: SpeechDataConfig = field(default_factory=SpeechDataConfig)
    audio: AudioFrontEnd = field(default_factory=AudioFrontEnd)
    model: SpeechModelConfig = field(default_factory=SpeechModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=_speech_trainer)
    linear_probe: SpeechProbeConfig = field(default_factory=SpeechProbeConfig)
    mixup_alpha: float = 0.0


def is_speech_config(data: dict[str, Any]) -> bool:
    """A YAML mapping that describes a speech run (``task: speech``)."""
    return str(data.get("task", "")).lower() == "speech"
