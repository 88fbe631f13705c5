"""The light analysis runtime against the torch path, measured in one run; prints a Markdown
table and writes ``results.json`` and ``rss_over_time.png`` under ``--out``.

    python benchmarks/bench_runtime.py --out runs/bench_runtime \
        [--core-venv /tmp/corevenv] [--build-core-venv] [--hour-seconds 3600]

Rows, each for the light path (``--runtime auto``: ONNX Runtime, torch never imported) and the
torch path (``--runtime torch``), every one a fresh ``emoscope analyze`` process:

- one photo end to end: wall time and peak RSS of the whole process (start-up included);
- the 640x360 clip (astronaut camera path, 20 s at 30 fps, every frame): frames per second
  over the whole process;
- a long video (``--hour-seconds``, default one hour, 640x360 at 5 fps with a voice track,
  analysed at 1 frame per second): RSS sampled every second, plotted against time, and its
  peak;
- with ``--build-core-venv``: a fresh core virtual environment (``pip install -e .`` plus
  mediapipe without its dependencies, as ``make demo``): install time and size on disk,
  without and then with pyarrow (the parquet extra); the torch path's size is this
  interpreter's environment.

The light path runs in ``--core-venv`` when given (an install without torch), else in this
interpreter. Timings depend on what else the machine is doing: measure on a quiet machine.
Small limits for a quick check: ``--clip-seconds 2 --hour-seconds 30``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO.parent / "shared" / "data" / "demo-media" / "angry.jpg"


def _clip(path: Path, seconds: float, fps: int, audio: bool) -> Path:
    """640x360 H.264 of the astronaut camera path (a cycle of at most 10 s, repeated), with
    a speech-like tone track when ``audio``; written frame by frame (an hour fits in memory)."""
    import av

    from emoscope.inference.demo import astronaut, camera_path

    cycle = camera_path(astronaut(), 640, 360, int(min(seconds, 10.0) * fps))
    total = int(seconds * fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 640, 360, "yuv420p"
        video.options = {"crf": "23", "preset": "veryfast"}
        sound = container.add_stream("aac", rate=16000) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for i in range(total):
            frame = av.VideoFrame.from_ndarray(cycle[i % len(cycle)], format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            _tone_track(container, sound, seconds)
    return path


def _tone_track(container, stream, seconds: float, rate: int = 16000) -> None:
    import av

    block, t0 = 16000, 0
    while t0 < seconds * rate:
        t = (t0 + np.arange(block)) / rate
        wave = 0.1 * np.sin(2 * np.pi * (180 + 40 * np.sin(t)) * t) * (np.sin(t * 3) > -0.3)
        frame = av.AudioFrame.from_ndarray(wave[None, :].astype(np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, t0, Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
        t0 += block
    for packet in stream.encode():
        container.mux(packet)


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _frames(stdout: str) -> int:
    """N of the CLI's 'N frame(s)' line."""
    words = stdout.split()
    return next((int(w) for w, nxt in zip(words, words[1:], strict=False)
                 if nxt.startswith("frame(s)") and w.isdigit()), 0)


def run_analyze(emoscope: Path, args: list[str], sample_s: float = 0.0) -> dict:
    """One ``emoscope analyze`` process: wall seconds, peak RSS (MB, from the kernel's
    accounting of that child) and, with ``sample_s``, RSS samples (seconds, MB)."""
    started = time.perf_counter()
    process = subprocess.Popen([str(emoscope), "analyze", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, float]] = []

    def sample() -> None:
        while process.poll() is None:
            rss = _rss_mb(process.pid)
            if rss is not None:
                samples.append((time.perf_counter() - started, rss))
            time.sleep(sample_s)

    sampler = threading.Thread(target=sample, daemon=True) if sample_s else None
    if sampler:
        sampler.start()
    out, err = process.communicate()
    wall = time.perf_counter() - started
    if sampler:
        sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"emoscope analyze {' '.join(args)} failed:\n{err[-2000:]}")
    peak = max((mb for _, mb in samples), default=None)
    frames = _frames(out)
    return {"wall_s": round(wall, 3), "peak_rss_mb": peak, "frames": frames,
            "samples": samples}


def run_peak(emoscope: Path, args: list[str]) -> dict:
    """As ``run_analyze``, peak RSS from ``wait4`` (exact, no sampling)."""
    started = time.perf_counter()
    process = subprocess.Popen([str(emoscope), "analyze", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"emoscope analyze {' '.join(args)} failed ({process.returncode})")
    frames = _frames(out)
    return {"wall_s": round(wall, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "frames": frames}


def _du_mb(path: Path) -> float:
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return round(total / 2**20, 1)


def build_core_venv(folder: Path) -> dict:
    """A fresh core environment as ``make demo`` makes it: install time and size."""
    shutil.rmtree(folder, ignore_errors=True)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "-q"]
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    subprocess.run([*pip, "--no-deps", "mediapipe==0.10.21"], check=True)
    subprocess.run([*pip, "-e", str(REPO)], check=True)
    seconds = time.perf_counter() - started
    size = _du_mb(folder)
    started = time.perf_counter()
    subprocess.run([*pip, "pyarrow>=14"], check=True)
    return {"install_s": round(seconds, 1), "size_mb": size,
            "parquet_install_s": round(time.perf_counter() - started, 1),
            "size_with_parquet_mb": _du_mb(folder)}


def _plot(runs: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for name, run in runs.items():
        if run.get("samples"):
            t, mb = zip(*run["samples"], strict=True)
            ax.plot(t, mb, label=name)
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("RSS (MB)")
    ax.set_title("emoscope analyze of the long video")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench_runtime"))
    parser.add_argument("--photo", type=Path, default=PHOTO)
    parser.add_argument("--clip-seconds", type=float, default=20.0)
    parser.add_argument("--hour-seconds", type=float, default=3600.0)
    parser.add_argument("--core-venv", type=Path, default=None)
    parser.add_argument("--build-core-venv", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": f"{os.cpu_count()} CPUs, {sys.platform}"}
    if args.build_core_venv:
        args.core_venv = args.core_venv or args.out / "corevenv"
        results["core_venv"] = build_core_venv(args.core_venv)
        results["torch_venv_size_mb"] = _du_mb(Path(sys.prefix))
    light = (args.core_venv / "bin" / "emoscope") if args.core_venv else \
        Path(sys.executable).with_name("emoscope")
    paths = {"light (onnx)": (light, "auto"),
             "torch": (Path(sys.executable).with_name("emoscope"), "torch")}
    media = args.out / "media"
    clip = _clip(media / "clip_640x360.mp4", args.clip_seconds, 30, audio=False)
    long_video = _clip(media / "long_640x360.mp4", args.hour_seconds, 5, audio=True)
    for name, (emoscope, runtime) in paths.items():
        common = ["--runtime", runtime, "--no-plots"]
        row = {"photo": run_peak(emoscope, [str(args.photo), "--out", str(args.out / "photo"),
                                            *common]),
               "clip": run_peak(emoscope, [str(clip), "--out", str(args.out / "clip"),
                                           *common])}
        row["clip"]["fps"] = round(row["clip"]["frames"] / row["clip"]["wall_s"], 2)
        row["long"] = run_analyze(emoscope, [str(long_video), "--out", str(args.out / "long"),
                                             "--fps", "1", *common], sample_s=1.0)
        results[name] = row
    _plot({name: results[name]["long"] for name in paths}, args.out / "rss_over_time.png")
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print("| path | photo wall s | photo peak MB | clip fps | long video peak MB |")
    print("|---|---|---|---|---|")
    for name in paths:
        r = results[name]
        print(f"| {name} | {r['photo']['wall_s']} | {r['photo']['peak_rss_mb']} | "
              f"{r['clip']['fps']} | {r['long']['peak_rss_mb']:.0f} |")
    if "core_venv" in results:
        print(f"\ncore venv: {results['core_venv']}; torch-path venv "
              f"{results['torch_venv_size_mb']} MB")


if __name__ == "__main__":
    main()
