"""Long, small audio files: Opus at 8 kbit/s, about 1.4 MB per 30 minutes of playing time."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_long_opus(path: Path, minutes: float, rate: int = 16000) -> Path:
    """Mono Opus of tone bursts (220/330/440 Hz, 3 Hz tremolo) with every fourth second
    silent; the encoder at its fastest setting (about 5 s for 30 minutes on a busy core)."""
    import av

    t = np.arange(rate) / rate
    tremolo = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    tones = [(0.3 * np.sin(2 * np.pi * f * t) * tremolo).astype(np.float32)
             for f in (220, 330, 440)]
    silence = np.zeros(rate, np.float32)
    with av.open(str(path), "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=rate)
        stream.bit_rate = 8000
        stream.layout = "mono"
        stream.options = {"compression_level": "0", "application": "lowdelay"}
        for second in range(int(minutes * 60)):
            samples = silence if second % 4 == 3 else tones[second % 3]
            frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = second * rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
