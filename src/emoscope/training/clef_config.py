"""Typed configuration of a CAER-S run: a context-aware model, the face-only control, or CLEF
(counterfactual debiasing) around either. One experiment is one YAML with ``task: clef``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emoscope.training.config import LoopConfig, OptimConfig

TASK = "clef"


@dataclass
class ClefDataConfig:
    dataset: str = "caer_s"  # caer_s (single-label) | emotic (26 categories, multi-label)
    root: str = "../shared/data/CAER-S"
    train_split: str = "train"
    val_split: str = "test"  # CAER-S ships train and test only (EMOTIC: use val)
    face_coords: str = ""  # train split's JSON; empty: ROOT/{split}_face_coords.json
    val_face_coords: str = ""
    mask: str = "box"  # box | segmentation | auto: how the subject leaves the context image
    augment: str = "none"  # none | basic | full, every stream
    limit: int = 0  # >0: CAER-S at most N frames per class, EMOTIC N persons, per split
    options: dict[str, Any] = field(default_factory=dict)  # more dataset arguments (EMOTIC:
    # layout, face_cache, min_face_visibility, normalise_vad, ...)
    num_workers: int = 0


@dataclass
class ClefModelConfig:
    factual: str = "caernet_s"  # a MODELS name: caernet_s, face_only, multistream, ...
    factual_kwargs: dict[str, Any] = field(default_factory=dict)
    factual_from: str = ""  # a trained factual model (model.json / .ckpt): wrap it
    freeze_factual: bool = False  # with factual_from: train the context branch and Y_e* only
    debias: bool = True  # false: train the factual model alone (baselines, face-only control)
    context_backbone: str = "resnet18"  # CLEF's context branch: any timm name
    context_image_size: int = 0  # 0: the backbone's own input size
    fusion: str = "sum"  # sum | harmonic
    space: str = ""  # log | prob; empty: log (single-label)
    clamp: float = 12.0  # soft bound on every logit before fusion; 0: none
    pretrained: str = "auto"  # none | offline | online | auto


@dataclass
class ClefLossConfig:
    factual_weight: float = 1.0
    context_weight: float = 1.0
    kl_weight: float = 1.0
    warmup_steps: int = 0  # the factual model trains alone this many steps first
    vad_weight: float = 0.0  # EMOTIC: L2 on the factual model's VAD head (EMOT-Net's 3)
    label_smoothing: float = 0.0


def clef_optim() -> OptimConfig:
    """Adam at 1e-3, no weight decay, a constant learning rate."""
    return OptimConfig(optimizer="adam", lr=1e-3, weight_decay=0.0, scheduler="none")


@dataclass
class ClefTrainerConfig(LoopConfig):
    pass


@dataclass
class ClefConfig:
    task: str = TASK
    name: str = "clef"
    out_dir: str = "runs/caer_s"
    data: ClefDataConfig = field(default_factory=ClefDataConfig)
    model: ClefModelConfig = field(default_factory=ClefModelConfig)
    loss: ClefLossConfig = field(default_factory=ClefLossConfig)
    optim: OptimConfig = field(default_factory=clef_optim)
    trainer: ClefTrainerConfig = field(default_factory=ClefTrainerConfig)


def is_clef_config(data: dict[str, Any]) -> bool:
    """Whether a loaded YAML mapping describes a CAER-S / CLEF experiment."""
    section = data.get("data")
    dataset = section.get("dataset") if isinstance(section, dict) else None
    return data.get("task") == TASK or dataset in ("caer_s", "emotic_clef")
