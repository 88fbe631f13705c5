"""Image reading: every mode becomes RGB uint8; bad files raise MediaError naming the file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from emoscope.data.images import load_image
from emoscope.errors import MediaError


def test_rgb_png_round_trips(tmp_path, astronaut_rgb):
    path = tmp_path / "face.png"
    Image.fromarray(astronaut_rgb).save(path)
    loaded = load_image(path)
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.shape == (512, 512, 3)
    assert np.array_equal(loaded.rgb, astronaut_rgb)
    assert loaded.scale == 1.0


def test_grayscale_becomes_three_equal_channels(tmp_path, astronaut_rgb):
    path = tmp_path / "grey.jpg"
    Image.fromarray(astronaut_rgb).convert("L").save(path)
    rgb = load_image(path).rgb
    assert rgb.shape == (512, 512, 3)
    assert np.array_equal(rgb[..., 0], rgb[..., 2])


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:5, :, 3] = 255  # top half opaque red, bottom half transparent
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    rgb = load_image(path).rgb
    assert tuple(rgb[0, 0]) == (200, 0, 0)
    assert tuple(rgb[9, 9]) == (255, 255, 255)


def test_palette_image(tmp_path, astronaut_rgb):
    path = tmp_path / "palette.gif"
    Image.fromarray(astronaut_rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    rgb = load_image(path).rgb
    assert rgb.shape == (512, 512, 3)
    assert np.abs(rgb.astype(int) - astronaut_rgb).mean() < 20


def test_sixteen_bit_grey_is_scaled(tmp_path):
    grey16 = np.full((8, 8), 65535, np.uint16)
    grey16[:4] = 257 * 100
    path = tmp_path / "deep.png"
    Image.fromarray(grey16).save(path)
    rgb = load_image(path).rgb
    assert rgb[0, 0, 0] == 100 and rgb[7, 7, 1] == 255


def test_sixteen_bit_rgb_tiff_via_opencv(tmp_path):
    import cv2

    bgr16 = np.zeros((6, 6, 3), np.uint16)
    bgr16[..., 2] = 65535  # red in OpenCV's BGR order
    path = tmp_path / "deep.tiff"
    cv2.imwrite(str(path), bgr16)
    rgb = load_image(path).rgb
    assert tuple(rgb[0, 0]) == (255, 0, 0)


def test_exif_orientation_is_applied(tmp_path):
    array = np.zeros((20, 40, 3), np.uint8)  # wide
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    loaded = load_image(path)
    assert loaded.rgb.shape[:2] == (40, 20)
    assert loaded.original_size == (20, 40)


def test_huge_image_is_downscaled(tmp_path):
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (10000, 10000), (90, 120, 150)).save(path, quality=50)
    loaded = load_image(path, max_side=2048)
    assert max(loaded.rgb.shape[:2]) <= 2048
    assert loaded.scale == pytest.approx(10000 / max(loaded.rgb.shape[:2]))
    assert loaded.original_size == (10000, 10000)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.jpg", b"", "empty file"),
        ("corrupt.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "corrupt"),
        ("notes.jpg", b"just some text, not an image", "not an image"),
    ],
)
def test_bad_files_raise_media_error(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MediaError) as info:
        load_image(path)
    assert name in str(info.value) and problem in str(info.value)


def test_truncated_jpeg(tmp_path, astronaut_rgb):
    path = tmp_path / "cut.jpg"
    Image.fromarray(astronaut_rgb).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(MediaError, match="cut.jpg"):
        load_image(path)


@pytest.mark.parametrize("suffix", [".heic", ".avif"])
def test_phone_formats_heic_and_avif(tmp_path, astronaut_rgb, suffix):
    path = tmp_path / f"photo{suffix}"
    Image.fromarray(astronaut_rgb).save(path, quality=95)
    image = load_image(path)
    assert image.rgb.shape == (512, 512, 3) and image.rgb.dtype == np.uint8
    assert np.abs(image.rgb.astype(int) - astronaut_rgb).mean() < 6  # lossy, but the photo


def test_heic_orientation_is_applied_once(tmp_path):
    stored = np.zeros((30, 60, 3), np.uint8)
    stored[:, :20] = 255  # white band on the stored left
    exif = Image.Exif()
    exif[0x0112] = 6  # display turned 90 degrees clockwise, as phones write portrait photos
    path = tmp_path / "portrait.heic"
    Image.fromarray(stored).save(path, quality=95, exif=exif.tobytes())
    rgb = load_image(path).rgb
    assert rgb.shape[:2] == (60, 30)
    assert rgb[:20].mean() > 200 and rgb[40:].mean() < 50  # the band is now on top
