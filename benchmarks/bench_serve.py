"""Load test of ``emoscope serve`` on loopback; prints a Markdown table of latency percentiles.

    python benchmarks/bench_serve.py [--requests 200] [--concurrency 4] [--model NAME_OR_PATH]

Starts ``emoscope serve`` as its own process on a free 127.0.0.1 port, then sends a bounded
number of requests with a fixed number in flight (httpx, asyncio). Rows, all measured in the
same run on the same 512x512 JPEG of scikit-image's astronaut photo (one face):

- direct analysis in this process (``AnalysisEngine.analyse``, one at a time): the baseline
  every ratio refers to; what the service adds is HTTP, multipart parsing, checks and JSON;
- ``GET /health``: the cost of the HTTP round trip alone;
- ``POST /analyze`` (the table), and with ``annotate=true`` (plus the annotated png).

Every response must be 200; the run fails otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import numpy as np

import emoscope  # noqa: F401  (sets OMP_WAIT_POLICY before anything loads torch)


def _photo_jpeg() -> bytes:
    from PIL import Image

    from emoscope.inference.demo import astronaut

    buffer = io.BytesIO()
    Image.fromarray(astronaut()).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_command(port: int, model: str | None) -> list[str]:
    command = [sys.executable, "-m", "emoscope.cli.main", "serve", "--port", str(port)]
    return command + (["--model", model] if model else [])


def _start_server(command: list[str], log: IO[bytes]) -> subprocess.Popen:
    """The server, its output going to ``log``: a pipe nobody reads would fill after about
    64 KiB of request log lines and block the server mid-run."""
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def _log_tail(log: IO[bytes], lines: int = 20) -> str:
    log.flush()
    log.seek(0)
    return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])


def _wait_ready(url: str, server: subprocess.Popen, log: IO[bytes],
                timeout: float = 180) -> None:
    import httpx

    stop = time.monotonic() + timeout
    while time.monotonic() < stop:
        if server.poll() is not None:
            raise SystemExit(f"server exited:\n{_log_tail(log)}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise SystemExit("server did not become ready")


async def _load(url: str, requests: int, concurrency: int, send) -> tuple[list[float], float]:
    """Latencies (s) of ``requests`` calls of ``send(client)`` with ``concurrency`` in flight."""
    import httpx

    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            queue.get_nowait()
            start = time.perf_counter()
            response = await send(client)
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise SystemExit(f"request failed: {response.status_code} {response.text}")

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await send(client)  # warm-up, not counted
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return latencies, wall


def _direct(photo: bytes, requests: int, model: str | None) -> tuple[list[float], float]:
    from emoscope.serve.engine import AnalysisEngine, RequestOptions
    from emoscope.serve.settings import ServeSettings

    engine = AnalysisEngine(ServeSettings(model=model))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "astronaut.jpg"
        path.write_bytes(photo)
        engine.analyse(path, "image", "astronaut.jpg", RequestOptions(), None, time.monotonic()
                       + 60)
        latencies = []
        start = time.perf_counter()
        for _ in range(requests):
            began = time.perf_counter()
            engine.analyse(path, "image", "astronaut.jpg", RequestOptions(), None,
                           time.monotonic() + 60)
            latencies.append(time.perf_counter() - began)
        wall = time.perf_counter() - start
    engine.close()
    return latencies, wall


def _row(name: str, latencies: list[float], wall: float, concurrency: int,
         baseline: float | None) -> str:
    p50, p90, p99 = (float(np.percentile(latencies, q)) * 1000 for q in (50, 90, 99))
    rate = len(latencies) / wall
    ratio = f"{rate / baseline:.2f}x" if baseline else "1.00x"
    return (f"| {name} | {len(latencies)} | {concurrency} | {p50:.1f} | {p90:.1f} | "
            f"{p99:.1f} | {rate:.1f} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--model", default=None, help="served model (default: shipped default)")
    args = parser.parse_args()
    photo = _photo_jpeg()
    load_before = os.getloadavg()[0]
    direct = _direct(photo, args.requests, args.model)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tempfile.TemporaryFile()
    server = _start_server(_server_command(port, args.model), log)
    try:
        _wait_ready(url, server, log)
        files = {"file": ("astronaut.jpg", photo, "image/jpeg")}
        runs = [
            ("GET /health", lambda c: c.get("/health")),
            ("POST /analyze (table)", lambda c: c.post("/analyze", files=files)),
            ("POST /analyze?annotate=true", lambda c: c.post("/analyze?annotate=true",
                                                             files=files)),
        ]
        measured = [(name, *asyncio.run(_load(url, args.requests, args.concurrency, send)))
                    for name, send in runs]
    except BaseException:
        print(f"server log (last lines):\n{_log_tail(log)}", file=sys.stderr)
        raise
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    baseline = len(direct[0]) / direct[1]
    print(f"command: python benchmarks/bench_serve.py --requests {args.requests} "
          f"--concurrency {args.concurrency}" + (f" --model {args.model}" if args.model else ""))
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores; load "
          f"average {load_before:.2f} at start; server and load generator share the machine")
    print(f"image: 512x512 JPEG, {len(photo) / 1024:.0f} KB, one face; model: "
          f"{args.model or 'shipped default'}; detector: mediapipe; 1 analyser\n")
    print("| measurement | requests | in flight | p50 ms | p90 ms | p99 ms | req/s | "
          "req/s vs direct |")
    print("|---|---|---|---|---|---|---|---|")
    print(_row("direct analysis, in process [baseline]", *direct, 1, None))
    for name, latencies, wall in measured:
        print(_row(name, latencies, wall, args.concurrency, baseline))


if __name__ == "__main__":
    main()
