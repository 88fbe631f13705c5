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

# After SIGTERM or Ctrl-C, requests still running get this long before they are cancelled.
SHUTDOWN_GRACE_S = 5


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
        config = _uvicorn_config(app, settings, timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
        uvicorn.Server(config).run(sockets=[listener])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        log.info("emoscope serve stopped")
    finally:
        listener.close()
    _leave_stuck_threads(SHUTDOWN_GRACE_S)


def _leave_stuck_threads(grace_s: float) -> None:
    """Exit now if an analysis thread outlives the shutdown: the interpreter would wait for it
    at exit, and a call stuck in native code (no deadline check reaches it) never returns."""
    import os
    import sys

    stop = time.monotonic() + grace_s
    while True:
        stuck = [t for t in threading.enumerate()
                 if t is not threading.main_thread() and not t.daemon and t.is_alive()]
        if not stuck or time.monotonic() > stop:
            break
        time.sleep(0.05)
    if stuck:
        log.warning("emoscope serve stopped; %d analysis thread(s) still busy were abandoned",
                    len(stuck))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


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
