"""Running the service: ``run_server`` for the CLI, ``BackgroundServer`` for tests and
benchmarks (a real uvicorn server on a free loopback port, in a thread)."""

from __future__ import annotations

import logging
import socket
import threading
import time

from emoscope.errors import UserError
from emoscope.serve.settings import ServeSettings

log = logging.getLogger(__name__)


def _uvicorn_config(app, settings: ServeSettings, **extra: object):
    import uvicorn

    # One event loop; analysis runs in its thread pool. Uvicorn's own access log would print
    # every request through its handlers; ours go through ``logging`` like the rest.
    return uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None,
                          access_log=False, timeout_keep_alive=5, **extra)


def run_server(settings: ServeSettings) -> None:
    """Load the analysis, then serve until interrupted (blocking)."""
    import uvicorn

    from emoscope.serve.app import create_app

    settings.validate()
    try:  # bound before the model loads: a busy port fails at once, and no one can take it
        listener = socket.create_server((settings.host, settings.port))
    except OSError as err:
        raise UserError(f"{settings.host}:{settings.port}: cannot listen ({err.strerror})") \
            from None
    try:
        app = create_app(settings)
        log.info("emoscope serve on http://%s:%d (page at /, schema at /openapi.json)",
                 settings.host, settings.port)
        uvicorn.Server(_uvicorn_config(app, settings)).run(sockets=[listener])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        log.info("emoscope serve stopped")
    finally:
        listener.close()


class BackgroundServer:
    """``with BackgroundServer(app) as url:`` serves ``app`` on 127.0.0.1:<free port>."""

    def __init__(self, app, settings: ServeSettings | None = None, start_timeout: float = 30):
        import uvicorn

        self._socket = socket.create_server(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        config = _uvicorn_config(app, ServeSettings(host="127.0.0.1", port=port))
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]}, daemon=True)
        self.url = f"http://127.0.0.1:{port}"
        self._start_timeout = start_timeout

    def __enter__(self) -> str:
        self._thread.start()
        stop = time.monotonic() + self._start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > stop:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()
