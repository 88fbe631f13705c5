"""Typed configuration of an EMOTIC (context / body / face) experiment, and the study's
command-line flags mapped onto it. One experiment is one complete YAML file with
``task: emotic`` at the top level (what ``emoscope train`` dispatches on)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emoscope.errors import UserError
from emoscope.training.config import LoopConfig, OptimConfig

TASK = "emotic"


@dataclass
class EmoticDataConfig:
    dataset: str = "emotic"  # the DATASETS registry name
    root: str = "../shared/data/emotic"
    layout: str = ""  # mat | preprocessed | kaggle; empty: detect
    face_cache: str = ""  # CSV of 'emoscope prepare emotic'; empty: ROOT/emotic_faces.csv if any
    train_split: str = "train"
    val_split: str = "val"
    test_split: str = "test"
    mask_body: bool = False  # black out the body box in the context image
    normalise_vad: bool = False  # VAD min-max to [-1, 1] with train statistics (tanh heads)
    min_face_visibility: float = 0.0  # faces below this cached visibility (0-100) are masked
    include_extra: bool = False  # Kaggle layout: also read annot_arrs_extra_train.csv
    limit: int = 0  # >0: keep the first N persons of each split (smoke runs)
    num_workers: int = 0  # DataLoader worker processes


@dataclass
class StreamConfig:
    backbone: str = ""  # a timm name or study alias (swin, efficientnet_b7...); empty: no stream
    image_size: int = 224  # square input size; 0: the backbone's own (timm data config)
    augment: str = "none"  # none | basic | full


@dataclass
class EmoticModelConfig:
    architecture: str = "multistream"  # multistream | emotic_reference (a MODELS preset)
    context: StreamConfig = field(default_factory=lambda: StreamConfig("resnet18"))
    body: StreamConfig = field(default_factory=lambda: StreamConfig("resnet18"))
    face: StreamConfig = field(default_factory=StreamConfig)
    ablation: str = "all"  # all, context, body, face, context_body, context_face, body_face
    fusion: str = "simple"  # a FUSIONS registry name
    fusion_dim: int = 256
    fusion_kwargs: dict[str, Any] = field(default_factory=dict)
    heads: str = "emotion"  # a HEADS registry name
    head_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: str = "auto"  # none | offline | online | auto
    freeze_backbones: bool = False  # train fusion + heads only (needed by the feature cache)


@dataclass
class EmoticLossConfig:
    categorical: str = "discrete"  # a multi-label LOSSES name: bce, discrete, focal, asl, ...
    vad: str = "l2"  # l2 | smooth_l1
    categorical_weight: float = 0.5
    vad_weight: float = 0.5
    categorical_kwargs: dict[str, Any] = field(default_factory=dict)
    vad_kwargs: dict[str, Any] = field(default_factory=dict)


def emotic_optim() -> OptimConfig:
    """Adam at 1e-3, no weight decay, ReduceLROnPlateau on val/mAP (x0.1 after 3 epochs)."""
    return OptimConfig(optimizer="adam", lr=1e-3, weight_decay=0.0, scheduler="plateau",
                       plateau_patience=3, plateau_factor=0.1)


@dataclass
class EmoticTrainerConfig(LoopConfig):
    early_stopping_patience: int = 5  # on val/mAP; 0: off
    feature_cache: bool = False  # frozen backbones: compute stream features once, reuse them
    cache_dir: str = ".cache/emotic_features"  # where cached features live (shared by runs)
    resample: str = "none"  # none | mini | full: ADASYN on cached features (training/adasyn.py)


@dataclass
class EmoticConfig:
    task: str = TASK
    name: str = "emotic"
    out_dir: str = "runs/emotic"
    data: EmoticDataConfig = field(default_factory=EmoticDataConfig)
    model: EmoticModelConfig = field(default_factory=EmoticModelConfig)
    loss: EmoticLossConfig = field(default_factory=EmoticLossConfig)
    optim: OptimConfig = field(default_factory=emotic_optim)
    trainer: EmoticTrainerConfig = field(default_factory=EmoticTrainerConfig)


def is_emotic_config(data: dict[str, Any]) -> bool:
    """Whether a loaded YAML mapping describes an EMOTIC experiment."""
    section = data.get("data")
    dataset = section.get("dataset") if isinstance(section, dict) else None
    return data.get("task") == TASK or dataset == "emotic"


# The study's flags -> config keys; values pass through unchanged unless noted in study_overrides.
STUDY_FLAGS: dict[str, str] = {
    "data_path": "data.root",
    "context_model": "model.context.backbone",
    "body_model": "model.body.backbone",
    "face_model": "model.face.backbone",
    "context_aug_level": "model.context.augment",
    "body_aug_level": "model.body.augment",
    "face_aug_level": "model.face.augment",
    "ablation": "model.ablation",
    "fusion": "model.fusion",
    "loss": "loss.categorical",
    "epochs": "trainer.max_epochs",
    "batch_size": "trainer.batch_size",
    "lr": "optim.lr",
    "model_dir": "out_dir",
}


def study_overrides(flags: dict[str, Any]) -> list[str]:
    """``--set``-style ``key=value`` items from the study's flags (``None`` values skipped).

    ``--loss focal`` selects the multi-label (sigmoid) focal loss.
    """
    items: list[str] = []
    for flag, value in flags.items():
        if value is None:
            continue
        if flag not in STUDY_FLAGS:
            raise UserError(f"unknown study flag --{flag}; known: "
                            + ", ".join(f"--{f}" for f in STUDY_FLAGS))
        items.append(f"{STUDY_FLAGS[flag]}={value}")
        if flag == "loss" and value == "focal":
            items.append("loss.categorical_kwargs={multi_label: true}")
    return items
