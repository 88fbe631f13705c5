"""benchmarks/bench_serve.py: the server it starts can write as much as it likes."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_serve.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_serve", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_chatty_server_never_blocks_on_its_output():
    """The server's stderr went to a pipe nobody read: after about 64 KiB of log lines the
    server blocked mid-write and the benchmark hung at its defaults."""
    bench = _bench_module()
    chatty = [sys.executable, "-c",
              "import sys\nfor i in range(20000): print('log line', i, 'x' * 60, "
              "file=sys.stderr)\nprint('served', flush=True)"]
    with tempfile.TemporaryFile() as log:
        server = bench._start_server(chatty, log)
        assert server.wait(timeout=60) == 0  # 1.4 MB written without anyone reading
        tail = bench._log_tail(log, lines=2)
    assert tail.splitlines() == [f"log line 19999 {'x' * 60}", "served"]
