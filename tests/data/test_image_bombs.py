"""Images whose declared size or content would cost far more than their file: refused from
the header, quickly and without decoding, or decoded reduced."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from emoscope.data.images import MAX_SIDE, _jpeg_draft_size, load_image
from emoscope.errors import MediaError

_MEASURE = """
import json, resource, sys, time
from emoscope.data.images import load_image
from emoscope.errors import MediaError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
began = time.monotonic()
try:
    shape, error = list(load_image(sys.argv[1]).rgb.shape), None
except MediaError as err:
    shape, error = None, str(err)
print(json.dumps({"grew_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
                  / 1024, "seconds": time.monotonic() - began, "shape": shape,
                  "error": error}))
"""


def _load_in_child(path: Path) -> dict:
    """load_image in a fresh process: its peak memory is the process's own high-water mark."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True,
                          text=True, timeout=300, check=True)
    return json.loads(done.stdout)


def test_a_small_png_declaring_169_megapixels_is_refused_before_decoding(flat_png):
    assert flat_png.stat().st_size < 3_000_000
    measured = _load_in_child(flat_png)
    assert measured["error"] == (f"{flat_png}: image too large to decode (13000x13000 pixels; "
                                 "at most 50 megapixels unless JPEG)")
    assert measured["grew_mb"] < 60, measured  # decoded, it is 507 MB of RGB
    assert measured["seconds"] < 5, measured


def test_a_jpeg_header_and_megabytes_of_zeros_fails_fast(padded_jpeg):
    measured = _load_in_child(padded_jpeg)
    assert measured["error"] == (f"{padded_jpeg}: JPEG data ends in zero padding without an "
                                 "end-of-image marker (damaged or padded file)")
    assert measured["seconds"] < 3, measured  # libjpeg decoded 48 megapixels of zeros
    assert measured["grew_mb"] < 60, measured


def test_zeros_after_the_end_marker_are_a_normal_jpeg(tmp_path, astronaut_rgb):
    buffer = io.BytesIO()
    Image.fromarray(astronaut_rgb).save(buffer, "JPEG", quality=90)
    path = tmp_path / "camera.jpg"  # some cameras pad their files after the image
    path.write_bytes(buffer.getvalue() + bytes(200_000))
    assert load_image(path).rgb.shape == (512, 512, 3)


def test_a_flat_optimised_jpeg_full_of_zero_bytes_still_loads(tmp_path):
    path = tmp_path / "flat.jpg"
    Image.new("RGB", (3000, 2000), (90, 90, 90)).save(path, "JPEG", optimize=True)
    loaded = load_image(path)
    assert loaded.rgb.shape == (2000, 3000, 3) and (loaded.rgb[0, 0] == 90).all()


@pytest.mark.parametrize(("size", "draft"), [
    ((3000, 2000), (3000, 2000)),  # small: full size
    ((8000, 6000), (8000, 6000)),  # half would be below MAX_SIDE; 48 MP fits the budget
    ((9000, 7000), (4500, 3500)),  # 63 MP: over the budget, half size
    ((16000, 3000), (8000, 1500)),  # a panorama: the long side decides
    ((20000, 20000), (5000, 5000)),
])
def test_large_jpegs_decode_reduced(size, draft):
    assert _jpeg_draft_size(size, MAX_SIDE) == draft


def test_a_63_megapixel_jpeg_is_decoded_at_half_size(tmp_path, monkeypatch):
    from PIL import JpegImagePlugin

    path = tmp_path / "big.jpg"
    Image.new("L", (9000, 7000), 128).save(path, "JPEG", quality=50)
    decoded_sizes, draft = [], JpegImagePlugin.JpegImageFile.draft

    def recording_draft(self, mode, size):
        result = draft(self, mode, size)
        decoded_sizes.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", recording_draft)
    loaded = load_image(path)
    assert decoded_sizes == [(4500, 3500)]  # was decoded at full size: 9000 // 4096 = 2, but
    #                                         7000 // 4096 = 1 made libjpeg's scale 1
    assert loaded.rgb.shape == (3186, 4096, 3)
    assert loaded.scale == pytest.approx(9000 / 4096)
    assert loaded.original_size == (9000, 7000)


def test_an_animated_gif_over_the_decode_budget_is_refused(tmp_path):
    from emoscope.data.animated import probe_animated

    path = tmp_path / "wide.gif"
    frames = [Image.new("P", (11000, 5000), i) for i in range(2)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(MediaError, match=r"image too large to decode \(11000x5000 pixels"):
        probe_animated(path)


def test_video_frames_over_the_decode_budget_are_refused(face_video, monkeypatch):
    """A video codec may declare frames of up to 65535 x 65535 pixels (12 GB each)."""
    from emoscope.data import video
    from emoscope.data.video import VideoInfo, VideoReader

    monkeypatch.setattr(video, "_probe_pyav", lambda path: VideoInfo(
        9000, 6000, 25.0, 10, 0.4, "pyav"))
    with pytest.raises(MediaError, match=r"video frames too large to decode \(9000x6000 "
                                         r"pixels; at most 50 megapixels\)"):
        VideoReader(face_video)
    monkeypatch.setattr(video, "_probe_pyav", lambda path: VideoInfo(
        7680, 4320, 25.0, 10, 0.4, "pyav"))  # 8K video is fine
    assert VideoReader(face_video).info.width == 7680
