"""What a speech run is built from: its data splits, its network and its model card, shared by
the trainer (``train_speech``) and the linear probe (``speech_probe``)."""

from __future__ import annotations

import json

from torch import nn

from emoscope.config import to_dict
from emoscope.data.speech_arrays import SpeechArrays
from emoscope.errors import UserError
from emoscope.labels import LabelSpace
from emoscope.models.backbones import Preprocessing
from emoscope.models.files.checkpoint import ModelCard
from emoscope.registry import DATASETS, MODELS
from emoscope.training.speech_config import SpeechTrainConfig


def load_speech_split(cfg: SpeechTrainConfig, split: str) -> SpeechArrays:
    arrays = DATASETS.build(cfg.data.dataset, root=cfg.data.root, split=split,
                            cache_dir=cfg.data.cache_dir or None,
                            front_end=cfg.audio.to_dict(), **cfg.data.kwargs)
    if not isinstance(arrays, SpeechArrays):
        raise UserError(f"dataset '{cfg.data.dataset}' gives no speech spectrograms")
    return arrays


def build_speech_network(cfg: SpeechTrainConfig, num_classes: int) -> tuple[nn.Module, dict]:
    kwargs = {"num_classes": num_classes, "n_mels": cfg.audio.n_mels,
              "dropout": cfg.model.dropout, "spec_augment": cfg.model.spec_augment,
              **cfg.model.kwargs}
    if cfg.model.architecture == "speech_timm":
        kwargs["backbone"] = cfg.model.backbone
    if cfg.model.architecture == "speech_ge2e":  # maps the front end's bands onto its own
        kwargs["front_end"] = cfg.audio.to_dict()

    network = MODELS.build(cfg.model.architecture, pretrained=cfg.model.pretrained, **kwargs)
    return network, kwargs


def speech_card(cfg: SpeechTrainConfig, arch_kwargs: dict, label_space: LabelSpace,
                command: str, train: SpeechArrays, val: SpeechArrays) -> ModelCard:
    frames = cfg.audio.frames(cfg.data.crop_seconds)
    speakers = {"train": sorted(set(map(int, train.speakers))) if train.speakers is not None
                else [], "val": sorted(set(map(int, val.speakers))) if val.speakers is not None
                else []}
    return ModelCard(
        name=cfg.name, architecture=cfg.model.architecture, architecture_kwargs=arch_kwargs,
        label_space=label_space, task="speech_emotion",
        preprocessing=Preprocessing((1, cfg.audio.n_mels, frames), (0.0,), (1.0,)),
        data=(f"{cfg.data.dataset} {cfg.data.root}: {len(train)} clips of speakers "
              f"{speakers['train']} (split {cfg.data.train_split}); validated on {len(val)} "
              f"clips of speakers {speakers['val']} (split {cfg.data.val_split})"),
        recipe=json.dumps(to_dict(cfg), sort_keys=True), command=command,
        extra={"audio": cfg.audio.to_dict(), "crop_seconds": cfg.data.crop_seconds,
               "input": "log-mel (n_mels, frames), natural log of mel power + 1e-6",
               "speakers": speakers},
    )
