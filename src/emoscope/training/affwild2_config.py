"""Typed configuration of an Aff-Wild2 multi-task experiment (expressions, valence/arousal,
action units). One experiment is one YAML file with ``task: affwild2`` at the top level (what
``emoscope train`` dispatches on); ``balance.subsets: N`` trains a bagged ensemble of N."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emoscope.data.augment import AugmentConfig
from emoscope.data.balancing import BalanceConfig
from emoscope.training.config import LoopConfig, OptimConfig

TASK = "affwild2"


@dataclass
class AffWild2DataConfig:
    dataset: str = "affwild2"
    root: str = "../shared/data/affwild2"
    layout: str = "auto"  # auto | mtl (list files) | per_video (per-task annotation folders)
    train_split: str = "train"
    val_split: str = "val"
    image_size: int = 112  # decoded frame size (the cropped-aligned frames are 112x112)
    frame_step: int = 1  # keep every N-th annotated frame
    cache_dir: str = ".cache/datasets"  # decoded frames as .npz; empty: no cache
    limit: int = 0  # >0: the first N frames of each split (smoke runs)


@dataclass
class MultiTaskModelConfig:
    architecture: str = "multitask_face"  # a MODELS registry name
    backbone: str = "tf_efficientnetv2_s"  # any timm name; the seed preset
    pretrained: str = "auto"  # none | offline | online | auto
    input_size: int = 112  # the network's square input (frames are resized on the device)
    attention_dim: int = 0  # 0: the backbone's feature width
    num_heads: int = 8
    dropout: float = 0.2
    heavy_dropout: float = 0.5
    hidden_dim: int = 256
    init_from: str = ""  # a model file (.json/.safetensors/.ckpt) to start from
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class MultiTaskLossConfig:
    expression_weight: float = 1.0
    va_weight: float = 1.0
    au_weight: float = 1.0
    va_loss: str = "ccc"  # ccc | mse
    label_smoothing: float = 0.0
    uncertainty: bool = False  # learn the task weights (Kendall et al. 2018)
    class_weights: bool = False  # inverse-frequency expression weights (training frames)
    au_pos_weight: bool = False  # negatives / positives per AU in the BCE


@dataclass
class MultiTaskTrainerConfig(LoopConfig):
    max_epochs: int = 10
    max_minutes: float = 0.0  # >0: stop after this wall time per member
    batch_size: int = 64
    eval_batch_size: int = 256
    au_threshold: float = 0.5


@dataclass
class AffWild2Config:
    task: str = TASK
    name: str = "affwild2-multitask"
    out_dir: str = "runs/affwild2"
    member: int = -1  # >=0: train only this ensemble member (of balance.subsets)
    data: AffWild2DataConfig = field(default_factory=AffWild2DataConfig)
    model: MultiTaskModelConfig = field(default_factory=MultiTaskModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    loss: MultiTaskLossConfig = field(default_factory=MultiTaskLossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-3, warmup_epochs=0.5))
    trainer: MultiTaskTrainerConfig = field(default_factory=MultiTaskTrainerConfig)


def is_affwild2_config(data: dict[str, Any]) -> bool:
    """Whether a loaded YAML mapping describes an Aff-Wild2 multi-task experiment."""
    section = data.get("data")
    dataset = section.get("dataset") if isinstance(section, dict) else None
    return data.get("task") == TASK or dataset == TASK
