"""Speed of the audio side on this machine: seconds of audio processed per second of wall
time; prints a Markdown table.

    python benchmarks/bench_audio.py [--clips 40] [--model NAME_OR_PATH] [--threads 1]

Rows: the front end alone (decode the 48 kHz FLAC, mix to mono, resample to 16 kHz, log-mel),
which is the baseline every ratio refers to; the speech model on each whole clip (3 s crop,
batch 1 and batch 32, spectrograms precomputed); and the voice timeline of ``analyze``
(front end + model over 1 s windows every 0.5 s). Clips are RAVDESS files from
``../shared/data/ravdess`` when present, otherwise generated 3.5 s tones.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

import emoscope  # noqa: F401  (sets OMP_WAIT_POLICY before anything loads torch)

RAVDESS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ravdess"


def _clips(count: int, folder: Path) -> list[Path]:
    found = sorted(RAVDESS.rglob("*.flac"))[:: max(1, 1200 // max(count, 1))][:count]
    if found:
        return found
    import soundfile as sf

    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        t = np.arange(int(3.5 * 48000)) / 48000
        wave = 0.3 * np.sin(2 * np.pi * (200 + 20 * i) * t) + 0.01 * rng.standard_normal(t.size)
        paths.append(folder / f"tone_{i:03d}.flac")
        sf.write(str(paths[-1]), wave, 48000)
    return paths


def _seconds_of_audio(paths: list[Path]) -> float:
    import soundfile as sf

    return sum(sf.info(str(p)).duration for p in paths)


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--model", default=None, help="speech model (default: shipped)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from emoscope.data.audio import AudioFrontEnd, fit_frames, load_audio, log_mel
    from emoscope.evaluation.evaluate import resolve_model
    from emoscope.evaluation.speech import card_frames, predict_speech
    from emoscope.inference.voice import VoiceAnalyzer

    torch.set_num_threads(args.threads)
    network, card, source = resolve_model(args.model, "speech_emotion")
    front = AudioFrontEnd.from_dict(card.extra["audio"])
    with tempfile.TemporaryDirectory() as tmp:
        paths = _clips(args.clips, Path(tmp))
        audio_s = _seconds_of_audio(paths)
        log_mel(np.zeros(1600, np.float32), front)  # warm-up (filterbank cache)

        def front_end():
            return [log_mel(load_audio(p, front.sample_rate)[0], front) for p in paths]

        t_front, specs = _timed(front_end)
        crops = [fit_frames(s, card_frames(card)) for s in specs]
        predict_speech(network, crops[:2], 1)  # warm-up
        t_b1, _ = _timed(lambda: predict_speech(network, crops, 1))
        t_b32, _ = _timed(lambda: predict_speech(network, crops, 32))
        voice = VoiceAnalyzer(args.model, window_s=1.0, hop_s=0.5)
        t_voice, tables = _timed(lambda: [voice.timeline(p) for p in paths])
    windows = sum(len(t) for t in tables)
    base = audio_s / t_front
    rows = [
        ("front end: decode + mono + resample + log-mel [baseline]", audio_s / t_front),
        ("speech model, whole clips (3 s crop), batch 1", audio_s / t_b1),
        ("speech model, whole clips (3 s crop), batch 32", audio_s / t_b32),
        (f"voice timeline: front end + model, 1 s windows / 0.5 s hop ({windows} windows)",
         audio_s / t_voice),
    ]
    print(f"{len(paths)} clips, {audio_s:.1f} s of audio, model {card.name} ({source}), "
          f"{args.threads} torch thread(s)\n")
    print("| measurement | audio seconds per second | ratio |")
    print("|---|---|---|")
    for name, speed in rows:
        print(f"| {name} | {speed:.1f} | {speed / base:.2f}x |")
    load = os.getloadavg()[0]
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"torch {torch.__version__}, load average {load:.2f} (other processes skew these)")


if __name__ == "__main__":
    main()
