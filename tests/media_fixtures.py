"""Media files as devices write them, for the readers' tests."""

from __future__ import annotations

import math
import struct


def with_display_rotation(path, degrees_clockwise: int):
    """The mp4 as a phone writes it: pixels stored as they are, the track header's matrix
    (ISO 14496-12 tkhd, 16.16 fixed point) telling players to turn them for display."""
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    matrix_at = at + 4 + (40 if data[at + 4] == 0 else 52)  # version 0 or 1 header
    c, s = round(math.cos(math.radians(degrees_clockwise))), round(
        math.sin(math.radians(degrees_clockwise)))
    one = 0x10000
    matrix = (c * one, s * one, 0, -s * one, c * one, 0, 0, 0, 0x40000000)
    data[matrix_at:matrix_at + 36] = struct.pack(">9i", *matrix)
    path.write_bytes(bytes(data))
    return path

