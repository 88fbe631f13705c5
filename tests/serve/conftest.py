"""Service fixtures: one analysis engine (tiny face model + MediaPipe + tiny speech model)
shared by every app."""

from __future__ import annotations

import io

import pytest
from PIL import Image


@pytest.fixture(scope="session")
def tiny_speech_path(tmp_path_factory):
    """An untrained 8-class RAVDESS speech CNN (1 s windows of 64 mels) on disk."""
    import torch

    from emoscope.data.audio import AudioFrontEnd
    from emoscope.labels import RAVDESS_LABELS
    from emoscope.models.backbones import Preprocessing
    from emoscope.models.files.checkpoint import ModelCard, save_model
    from emoscope.models.speech import SpeechCNN

    torch.manual_seed(0)
    kwargs = {"num_classes": 8, "channels": [16, 16], "kernel": 3}
    card = ModelCard(name="tiny-speech", architecture="speech_cnn", architecture_kwargs=kwargs,
                     label_space=RAVDESS_LABELS, task="speech_emotion",
                     preprocessing=Preprocessing((1, 64, 101), (0.0,), (1.0,)),
                     extra={"audio": AudioFrontEnd().to_dict(), "crop_seconds": 1.0})
    return save_model(SpeechCNN(**kwargs).eval(), card,
                      tmp_path_factory.mktemp("speech") / "tiny_speech")


@pytest.fixture(scope="session")
def engine(tiny_model_path, tiny_speech_path):
    from emoscope.serve.engine import AnalysisEngine
    from emoscope.serve.settings import ServeSettings

    engine = AnalysisEngine(ServeSettings(model=str(tiny_model_path),
                                          voice_model=str(tiny_speech_path)))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def photo_jpeg(astronaut_rgb) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(astronaut_rgb).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def make_client(engine, tiny_model_path):
    """``make_client(**settings)``: a TestClient of an app sharing the session's engine."""
    from fastapi.testclient import TestClient

    from emoscope.serve.app import create_app
    from emoscope.serve.settings import ServeSettings

    clients = []

    def make(**settings):
        app = create_app(ServeSettings(model=str(tiny_model_path), **settings), engine=engine)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client, one_torch_thread):
    return make_client()


@pytest.fixture(scope="module")
def live_url(engine, tiny_model_path):
    """A real uvicorn server on 127.0.0.1:<free port> (1 MB upload limit), stopped after."""
    from emoscope.serve.app import create_app
    from emoscope.serve.server import BackgroundServer
    from emoscope.serve.settings import ServeSettings

    app = create_app(ServeSettings(model=str(tiny_model_path), max_upload_mb=1), engine=engine)
    with BackgroundServer(app) as url:
        yield url
