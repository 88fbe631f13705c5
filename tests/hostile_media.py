"""Small files that cost far more than their size: long Opus audio (8 kbit/s, about 1.4 MB
per 30 minutes), a PNG declaring 169 megapixels, a JPEG header followed by zeros."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


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


def write_flat_png(path: Path, width: int, height: int, rgb=(120, 80, 60)) -> Path:
    """A one-colour RGB PNG written row by row (never held in memory): 13000 x 13000 pixels
    (507 MB decoded) is a 2 MB file."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    row = b"\x01" + bytes(rgb) + bytes(3 * (width - 1))  # "Sub" filter: zeros after pixel 1
    packer = zlib.compressobj(1)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
                     + chunk(b"IEND", b""))
    return path


def write_zero_padded_jpeg(path: Path, width: int, height: int, zeros: int) -> Path:
    """A JPEG's headers declaring ``width`` x ``height``, then ``zeros`` zero bytes of "scan"."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    frame = data.index(b"\xff\xc0")
    data[frame + 5:frame + 9] = struct.pack(">HH", height, width)
    scan = data.index(b"\xff\xda")
    end = scan + 2 + int.from_bytes(data[scan + 2:scan + 4], "big")
    with path.open("wb") as file:
        file.write(bytes(data[:end]))
        for _ in range(zeros // 2**20):
            file.write(bytes(2**20))
    return path
