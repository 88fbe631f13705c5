"""``emoscope serve``: the analysis as an HTTP service (FastAPI) with an upload page."""

from emoscope.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def create_app(settings: ServeSettings, engine=None):
    """See ``emoscope.serve.app.create_app`` (imported lazily: FastAPI is an extra)."""
    from emoscope.serve.app import create_app as _create_app

    return _create_app(settings, engine)
