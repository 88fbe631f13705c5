"""Shared fixtures: tiny models saved as safetensors + card, and generated face media."""

from __future__ import annotations

import os
from pathlib import Path

# Nothing in the tests may download: timm/hub look-ups fail fast instead of hanging offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``<repo>/../shared/data``, or ``$EMOSCOPE_SHARED_DATA`` when set."""
    return Path(os.environ.get("EMOSCOPE_SHARED_DATA", REPO / ".." / "shared" / "data"))


def _save_tiny_model(folder: Path, valence_arousal: bool = False) -> Path:
    import torch

    from emoscope.labels import FER2013_LABELS
    from emoscope.models.backbones import backbone_preprocessing
    from emoscope.models.classifier import ImageClassifier
    from emoscope.models.files.checkpoint import ModelCard, save_model

    torch.manual_seed(0)
    kwargs = {"backbone": "mobilenetv3_small_100", "num_classes": 7,
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
    """An untrained 7-class face model (mobilenetv3_small_100, 64x64 grey) on disk."""
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


# --- training / evaluation fixtures (tests/synthetic_faces.py, tests/tiny_components.py) ---
import tiny_components  # noqa: E402,F401  (registers tiny_cnn_test and bar_oracle_test)
from synthetic_faces import write_fer2013_csv, write_fer2013_folders  # noqa: E402


@pytest.fixture
def fer_folders(tmp_path):
    """FER2013 Kaggle folder layout: 4 train and 2 test bar faces per class."""
    return write_fer2013_folders(tmp_path / "fer2013")


@pytest.fixture
def fer_csv(tmp_path):
    """FER2013 original CSV layout: 4 Training, 2 PublicTest, 2 PrivateTest faces per class."""
    return write_fer2013_csv(tmp_path / "fer2013csv")


@pytest.fixture(scope="session")
def bar_oracle_path(tmp_path_factory) -> Path:
    """A saved model that predicts the drawn class bar exactly (48x48 grey, FER2013 labels)."""
    from emoscope.labels import FER2013_LABELS
    from emoscope.models.backbones import Preprocessing
    from emoscope.models.files.checkpoint import ModelCard, save_model

    model = tiny_components.BarOracle()
    card = ModelCard(
        name="bar-oracle", architecture="bar_oracle_test", architecture_kwargs={},
        label_space=FER2013_LABELS,
        preprocessing=Preprocessing((3, 48, 48), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
        grayscale=True,
    )
    return save_model(model, card, tmp_path_factory.mktemp("oracle") / "bar_oracle")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder (``shared_data_dir()``); skips the test when it is absent."""
    root = shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root} (set EMOSCOPE_SHARED_DATA)")
    return root


@pytest.fixture
def one_torch_thread():
    """Tiny tensors: two OpenMP threads next to a busy peer process cost far more than they
    give (40 steps: 0.3 s on one thread, up to a minute on two contended cores)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- hostile media (tests/hostile_media.py), written once per session ---

@pytest.fixture(scope="session")
def flat_png(tmp_path_factory) -> Path:
    """A 13000x13000 one-colour PNG: 0.5 MB on disk, 507 MB of RGB when decoded."""
    from hostile_media import write_flat_png

    return write_flat_png(tmp_path_factory.mktemp("bomb") / "flat.png", 13000, 13000)


@pytest.fixture(scope="session")
def padded_jpeg(tmp_path_factory) -> Path:
    """An 8000x6000 JPEG header and scan followed by 24 MiB of zero bytes."""
    from hostile_media import write_zero_padded_jpeg

    return write_zero_padded_jpeg(tmp_path_factory.mktemp("bomb") / "padded.jpg", 8000, 6000,
                                  24 * 2**20)
