"""``emoscope serve`` as a user starts it: a real process on loopback, one-line errors."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest


def emoscope(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emoscope.cli.main", *args],
                          capture_output=True, text=True, timeout=240)


def test_bad_settings_are_one_line_errors(tmp_path):
    missing = tmp_path / "missing"
    result = emoscope("serve", "--allow-path", str(missing))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {missing}: --allow-path is not an existing folder"


@pytest.mark.slow
def test_serve_answers_on_loopback_and_stops_on_interrupt(tiny_model_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "emoscope.cli.main", "serve", "--port",
                               str(port), "--model", str(tiny_model_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        health = None
        stop = time.monotonic() + 180
        while health is None and time.monotonic() < stop and server.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
            except httpx.HTTPError:
                time.sleep(0.2)
        assert health is not None and health["model"] == "tiny", server.stderr.read()
    finally:
        server.send_signal(signal.SIGINT)
        code = server.wait(timeout=60)
    stderr = server.stderr.read()
    assert code == 0, stderr
    assert "Application shutdown complete" in stderr and "Traceback" not in stderr


def test_a_busy_port_fails_before_the_model_loads():
    from emoscope.errors import UserError
    from emoscope.serve.server import run_server
    from emoscope.serve.settings import ServeSettings

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        # An unknown model would fail with its own error: the port is checked first.
        with pytest.raises(UserError, match=f"^127.0.0.1:{port}: cannot listen"):
            run_server(ServeSettings(port=port, model="no-such-model"))


def test_an_unknown_model_fails_at_start_and_frees_the_port():
    from emoscope.errors import UserError
    from emoscope.serve.server import run_server
    from emoscope.serve.settings import ServeSettings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UserError, match="^unknown model 'no-such-model'; shipped models: "):
        run_server(ServeSettings(port=port, model="no-such-model"))
    socket.create_server(("127.0.0.1", port)).close()  # released again
