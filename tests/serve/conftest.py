"""Service fixtures: one analysis engine (tiny model + MediaPipe) shared by every app."""

from __future__ import annotations

import io

import pytest
from PIL import Image


@pytest.fixture(scope="session")
def engine(tiny_model_path):
    from emoscope.serve.engine import AnalysisEngine
    from emoscope.serve.settings import ServeSettings

    engine = AnalysisEngine(ServeSettings(model=str(tiny_model_path)))
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
