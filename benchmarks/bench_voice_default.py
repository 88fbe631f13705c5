"""Voice timeline speed of speech models, in one run: audio seconds analysed per second of wall
time (front end + model, 1 s windows every 0.5 s), each model warmed up once, then timed over
the same clips, models alternating so a change of machine load hits every model alike.

    python benchmarks/bench_voice_default.py --clips 20 \
        --models ravdess-speech-ge2e-egemaps ravdess-speech-lite0ge2e

Uses RAVDESS speech clips under --root when present, else generated voices. Prints the load
average before and after: numbers from a busy machine are not comparable with others.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np


def clips(root: Path, count: int, scratch: Path) -> list[Path]:
    found = sorted(root.rglob("03-01-*.flac"))[:count] if root.is_dir() else []
    if found:
        return found
    import soundfile as sf

    scratch.mkdir(parents=True, exist_ok=True)
    rate, paths = 16000, []
    for i in range(count):
        t = np.arange(int(3.5 * rate)) / rate
        phase = 2 * np.pi * np.cumsum((150 + 10 * i) * (1 + 0.05 * np.sin(6 * t))) / rate
        wave = 0.1 * sum(np.sin(k * phase) / k for k in range(1, 10))
        paths.append(scratch / f"voice{i:02d}.wav")
        sf.write(paths[-1], wave.astype(np.float32), rate)
    return paths


def seconds_of(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("../shared/data/ravdess"))
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--models", nargs="+",
                        default=["ravdess-speech-ge2e-egemaps", "ravdess-speech-lite0ge2e"])
    args = parser.parse_args()
    from emoscope.inference.voice import VoiceAnalyzer

    paths = clips(args.root, args.clips, Path("/tmp/bench_voice_default"))
    audio = sum(seconds_of(p) for p in paths)
    analyzers = {name: VoiceAnalyzer(name) for name in args.models}
    for analyzer in analyzers.values():
        analyzer.timeline(paths[0])  # warm-up: lazy imports, first-call allocations
    print(f"{len(paths)} clips, {audio:.1f} s of audio; load average before "
          f"{os.getloadavg()[0]:.2f}")
    elapsed = {name: 0.0 for name in analyzers}
    for _ in range(args.rounds):
        for name, analyzer in analyzers.items():
            started = time.perf_counter()
            for path in paths:
                analyzer.timeline(path)
            elapsed[name] += time.perf_counter() - started
    for name in analyzers:
        print(f"{name}: voice timeline {args.rounds * audio / elapsed[name]:.1f} audio s/s "
              f"({analyzers[name].source})")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
