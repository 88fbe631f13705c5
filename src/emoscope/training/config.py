"""Typed configuration of a training run; one experiment is one complete YAML file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emoscope.data.augment import AugmentConfig


@dataclass
class DataConfig:
    dataset: str = "fer2013"  # a DATASETS registry name
    root: str = "../shared/data/fer2013"
    train_split: str = "train"
    val_split: str = "test"
    image_size: int = 64
    cache_dir: str = ".cache/datasets"
    soft_labels: bool = False  # train on vote distributions when the dataset has them (FER+)
    limit_per_class: int = 0  # >0: keep at most this many training images per class (smoke runs)
    kwargs: dict[str, Any] = field(default_factory=dict)  # extra dataset arguments (image_folder)


@dataclass
class ModelConfig:
    architecture: str = "timm_classifier"  # a MODELS registry name
    backbone: str = "tf_efficientnet_lite0"
    pretrained: str = "auto"  # none | offline | online | auto
    dropout: float = 0.2
    backbone_weights: str = ""  # safetensors file of backbone weights to start from
    init_from: str = ""  # a model file (.json/.safetensors) whose whole network to start from
    freeze_stages: int = -1  # >=0: freeze the stem and the first N stages (partial unfreezing)
    kwargs: dict[str, Any] = field(default_factory=dict)  # extra architecture arguments


@dataclass
class LossConfig:
    name: str = "cross_entropy"  # a LOSSES registry name
    label_smoothing: float = 0.1
    focal_gamma: float = 2.0
    class_weights: bool = False  # inverse-frequency weights in the loss


@dataclass
class OptimConfig:
    """The optimiser and learning-rate schedule of every task (``training/base_module.py``)."""

    optimizer: str = "adamw"  # adamw | adam
    lr: float = 2e-3
    backbone_lr_mult: float = 1.0  # differential learning rate for the backbone
    weight_decay: float = 0.05
    scheduler: str = "cosine"  # cosine | plateau | none
    warmup_epochs: float = 1.0
    plateau_patience: int = 3  # plateau: epochs without a better monitored score
    plateau_factor: float = 0.5


@dataclass
class DistillConfig:
    teacher: str = ""  # path of a model file (.safetensors + .json); empty: no distillation
    alpha: float = 0.5  # weight of the distillation term
    temperature: float = 4.0
    teacher_flip: bool = False  # teacher targets: mean probabilities of the view and its mirror


@dataclass
class LoopConfig:
    """What every trainer sets; each task's trainer config extends it and may change the
    defaults."""

    max_epochs: int = 20
    max_minutes: float = 0.0  # >0: stop after this wall time (the best checkpoint is kept)
    batch_size: int = 32
    eval_batch_size: int = 64
    accelerator: str = "auto"
    devices: int = 1
    precision: str = "auto"  # auto: bf16-mixed on CUDA, 32 on CPU
    early_stopping_patience: int = 0  # on the monitored score; 0: off
    seed: int = 0
    num_threads: int = 0  # torch CPU threads; 0 keeps the default
    # > 0: validate, select and export an exponential moving average of the weights, updated
    # after every optimiser step with this decay (Lightning's EMAWeightAveraging); 0: off
    ema_decay: float = 0.0


@dataclass
class TrainerConfig(LoopConfig):
    """The single-stream trainer (face and speech classifiers)."""

    max_epochs: int = 30
    batch_size: int = 128
    eval_batch_size: int = 512
    strategy: str = "auto"
    num_nodes: int = 1
    sampler: str = "random"  # random | class_weighted
    mixup_alpha: float = 0.0
    monitor: str = "val/accuracy"
    tta_flip: bool = True  # also report flip test-time augmentation on validation


@dataclass
class TrainConfig:
    name: str = "fer2013-lite0"
    out_dir: str = "runs/train"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
