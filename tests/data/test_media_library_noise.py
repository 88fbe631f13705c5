"""A broken video gets our one line only: the decoding libraries print nothing of their own."""

from __future__ import annotations

import subprocess
import sys


def test_a_video_without_its_index_prints_only_our_error(tmp_path):
    # An mp4 cut before its index ("moov" atom): OpenCV's FFmpeg used to print
    # "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x...] moov atom not found" before our line.
    video = tmp_path / "cut.mp4"
    video.write_bytes(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
                      + bytes(5000))
    done = subprocess.run([sys.executable, "-m", "emoscope.cli.main", "analyze", str(video),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith(f"error: {video}: not a readable video"), done.stderr
    assert all(line.startswith("error: ") for line in lines), done.stderr
    assert "moov" not in done.stderr
