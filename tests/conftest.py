"""Shared fixtures: tiny models saved as safetensors + card, and generated face media."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``<repo>/../shared/data``, or ``$EMOSCOPE_SHARED_DATA`` when set."""
    return Path(os.environ.get("EMOSCOPE_SHARED_DATA", REPO / ".." / "shared" / "data"))


def _save_tiny_model(folder: Path, valence_arousal: bool = False) -> Path:
    import torch

    from emoscope.labels import FER2013_LABELS
    from emoscope.models.backbones import backbone_preprocessing
    from emoscope.models.checkpoint import ModelCard, save_model
    from emoscope.models.classifier import ImageClassifier

    torch.manual_seed(0)
    # mobilenetv3 would be smaller, but ImageClassifier sizes its head from ``num_features``
    # (576) while timm's mobilenetv3 emits ``head_hidden_size`` (1024) features.
    kwargs = {"backbone": "mobilenetv2_050", "num_classes": 7,
              "valence_arousal": valence_arousal}
    model = ImageClassifier(**kwargs).eval()
    card = ModelCard(
        name="tiny-va" if valence_arousal else "tiny",
        architecture="timm_classifier",
        architecture_kwargs=kwargs,
        label_space=FER2013_LABELS,
        preprocessing=backbone_preprocessing(model.backbone, image_size=64),
        grayscale=True,
        outputs=["logits", "valence_arousal"] if valence_arousal else ["logits"],
    )
    return save_model(model, card, folder / ("tiny_va" if valence_arousal else "tiny"))


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """An untrained 7-class face model (mobilenetv2_050, 64x64 grey) on disk."""
    return _save_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def tiny_va_model_path(tmp_path_factory) -> Path:
    """As ``tiny_model_path`` with a valence/arousal head."""
    return _save_tiny_model(tmp_path_factory.mktemp("tiny_va_model"), valence_arousal=True)


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    """scikit-image's public-domain astronaut photo: 512x512 RGB, one face."""
    from emoscope.inference.demo import astronaut

    return astronaut()


@pytest.fixture(scope="session")
def face_video(tmp_path_factory, astronaut_rgb) -> Path:
    """A 2 s, 12 fps, 320x180 mp4 of a camera moving over the astronaut (one face)."""
    from emoscope.inference.demo import camera_path, write_video

    frames = camera_path(astronaut_rgb, 320, 180, 24)
    return write_video(frames, tmp_path_factory.mktemp("video") / "face.mp4", fps=12)
