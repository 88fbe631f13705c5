"""Still images of any mode (grey, RGBA, palette, 16-bit, EXIF-rotated) read as RGB uint8."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from emoscope.errors import MediaError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".apng", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".jfif", ".ppm",
     ".pgm", ".heic", ".heif", ".avif"}
)
HEIF_SUFFIXES = frozenset({".heic", ".heif"})


def _register_heif() -> bool:
    """Phones save photos as HEIC: pillow-heif teaches PIL to read them (it applies the
    rotation and resets the EXIF orientation, so nothing turns twice)."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


HEIF_READABLE = _register_heif()

# Frames larger than this are downscaled on load: face detectors work on a few hundred pixels
# and a 10,000 x 10,000 RGB image alone would take 300 MB.
MAX_SIDE = 4096
# Beyond this many pixels decoding itself is refused (about 1.2 GB of RGB).
MAX_PIXELS = 400_000_000
# Most pixels decoded at once (150 MB of RGB): JPEGs above it decode at 1/2, 1/4 or 1/8 scale,
# other formats (which PIL decodes only at full size) are refused by their declared size, so a
# small file that declares 13,000 x 13,000 pixels costs nothing.
MAX_DECODED_PIXELS = 50_000_000
# A JPEG whose last bytes are this many zeros, with no end-of-image marker after its scan
# header, is padding, not an image: refused before libjpeg reads its declared pixels from it.
ZERO_TAIL_BYTES = 64 * 1024


@dataclass
class LoadedImage:
    """An RGB uint8 image and the factor that maps its pixels back to the file's pixels."""

    rgb: np.ndarray
    scale: float = 1.0
    original_size: tuple[int, int] = (0, 0)  # (width, height) in the file


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale 16-bit / 32-bit / float pixel values into 0..255."""
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        finite = np.nan_to_num(array.astype(np.float32))
        peak = float(finite.max()) if finite.size else 0.0
        scaled = finite * 255.0 if peak <= 1.0 else finite
        return np.clip(scaled, 0, 255).astype(np.uint8)
    peak = int(array.max()) if array.size else 0
    if peak <= 255:
        return array.astype(np.uint8)
    bits = 16 if peak <= 65535 else 32
    return (array.astype(np.float64) / (2**bits - 1) * 255.0 + 0.5).astype(np.uint8)


def _flatten_alpha(rgba: np.ndarray) -> np.ndarray:
    """Composite on white: transparent pixels often hold arbitrary colours."""
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    return (rgb + 0.5).astype(np.uint8)


def pil_to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL mode -> contiguous (H, W, 3) uint8 RGB."""
    mode = image.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        grey = _to_uint8(np.asarray(image))
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("LA", "PA", "La", "RGBa"):
        image = image.convert("RGBA")
    elif mode not in ("RGB", "RGBA"):
        image = image.convert("RGB")
    array = np.asarray(image)
    if array.shape[-1] == 4:
        array = _flatten_alpha(array)
    return np.ascontiguousarray(array)


def array_to_rgb(image: np.ndarray | Image.Image, channels: str = "rgb") -> np.ndarray:
    """An image held in memory -> contiguous (H, W, 3) uint8 RGB.

    Arrays may be grey (H, W) or (H, W, 1), colour (H, W, 3) or with alpha (H, W, 4), of any
    integer or float type (16-bit and 0..1 floats are scaled); ``channels="bgr"`` for
    OpenCV's order. PIL images are read in their own mode.
    """
    if isinstance(image, Image.Image):
        return pil_to_rgb(image)
    if channels not in ("rgb", "bgr"):
        raise ValueError(f"channels must be 'rgb' or 'bgr', got {channels!r}")
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or \
            min(array.shape[:2]) == 0:
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape "
                         f"{array.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"expected integer or float pixels, got {array.dtype}")
    array = _to_uint8(array)
    if array.ndim == 2:
        return np.ascontiguousarray(np.repeat(array[..., None], 3, axis=2))
    if channels == "bgr":
        array = array[..., [2, 1, 0, 3][: array.shape[2]]]
    if array.shape[2] == 4:
        array = _flatten_alpha(array)
    return np.ascontiguousarray(array)


def shrink_to_max_side(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Area-downscale so the longer side is at most ``max_side``; returns (image, factor)."""
    height, width = rgb.shape[:2]
    if max(height, width) <= max_side:
        return rgb, 1.0
    import cv2

    factor = max(height, width) / max_side
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), factor


def _downscale_factor(width: int, height: int, max_side: int) -> float:
    return max(width, height) / max_side if max(width, height) > max_side else 1.0


def _read_with_pil(path: Path, max_side: int) -> LoadedImage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            width, height = image.size
            # before reading EXIF: PIL decodes a whole PNG to look for EXIF after its pixels
            check_decodable(path, image, width, height)
            if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # rotated by 90 degrees
                width, height = height, width
            reduced = _jpeg_draft_size(image.size, max_side)
            if image.format == "JPEG" and reduced != image.size:
                # JPEG decodes at 1/2, 1/4 or 1/8 scale directly: no full-size buffer.
                image.draft("RGB", reduced)
            image = ImageOps.exif_transpose(image)  # also loads the pixels
            if max(image.size) > max_side:
                factor = _downscale_factor(*image.size, max_side)
                size = (max(1, round(image.width / factor)), max(1, round(image.height / factor)))
                if image.mode not in ("RGB", "RGBA", "L", "LA"):
                    image = Image.fromarray(pil_to_rgb(image))
                image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
            rgb = pil_to_rgb(image)
    scale = max(width, height) / max(rgb.shape[:2])
    return LoadedImage(rgb, scale if scale > 1.0001 else 1.0, (width, height))


def check_decodable(path: Path, image: Image.Image, width: int, height: int) -> None:
    """MediaError, before any pixel is decoded, for images over the pixel limits and for
    zero-padded JPEGs."""
    pixels = width * height
    if pixels > MAX_PIXELS:
        raise MediaError(path, f"image too large ({width}x{height} pixels)")
    if image.format == "JPEG":
        if _zero_padded(path):
            raise MediaError(path, "JPEG data ends in zero padding without an end-of-image "
                                   "marker (damaged or padded file)")
        return
    if pixels > MAX_DECODED_PIXELS:
        raise MediaError(path, f"image too large to decode ({width}x{height} pixels; at most "
                               f"{MAX_DECODED_PIXELS // 1_000_000} megapixels unless JPEG)")


def _jpeg_draft_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The size to ask ``Image.draft`` for: libjpeg picks the smallest scale (1, 1/2, 1/4,
    1/8) still at least this size. At least ``max_side`` on the longer side (nothing is lost
    before the downscale to it), and at most ``MAX_DECODED_PIXELS`` in all."""
    width, height = size
    factor = 1
    while factor < 8 and (max(width, height) / (factor * 2) >= max_side
                          or width * height / factor**2 > MAX_DECODED_PIXELS):
        factor *= 2
    # rounded down: PIL takes the scale from the whole ratio of the sizes
    return max(1, width // factor), max(1, height // factor)


def _zero_padded(path: Path) -> bool:
    """Whether a JPEG ends in ``ZERO_TAIL_BYTES`` of zeros with no end-of-image marker
    (FF D9) anywhere after its first scan header: libjpeg reads zeros as valid data and would
    decode every declared pixel from them. Cameras that pad after the marker are fine."""
    size = path.stat().st_size
    if size < ZERO_TAIL_BYTES:
        return False
    with path.open("rb") as file:
        file.seek(size - ZERO_TAIL_BYTES)
        if file.read().count(0) != ZERO_TAIL_BYTES:
            return False
        file.seek(0)
        carry, scanning = b"", False
        while chunk := file.read(1 << 20):
            data = carry + chunk
            if not scanning:
                start = data.find(b"\xff\xda")
                scanning = start >= 0
                data = data[start:] if scanning else data
            if scanning and b"\xff\xd9" in data:
                return False
            carry = data[-1:]
    return True


def _read_with_opencv(path: Path, max_side: int) -> LoadedImage:
    """Fallback for files PIL cannot decode (e.g. 16-bit RGB TIFF)."""
    import cv2

    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    if array is None:
        raise MediaError(path, "not a readable image")
    array = _to_uint8(array)
    if array.ndim == 2:
        array = cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    elif array.shape[2] == 4:
        array = _flatten_alpha(cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA))
    else:
        array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    height, width = array.shape[:2]
    factor = _downscale_factor(width, height, max_side)
    if factor > 1:
        size = (max(1, round(width / factor)), max(1, round(height / factor)))
        array = cv2.resize(array, size, interpolation=cv2.INTER_AREA)
    return LoadedImage(np.ascontiguousarray(array), factor, (width, height))


def load_image(path: str | Path, max_side: int = MAX_SIDE) -> LoadedImage:
    """Read an image file as RGB uint8, downscaled to ``max_side``; MediaError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "file not found")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty file")
    if path.suffix.lower() in HEIF_SUFFIXES and not HEIF_READABLE:
        raise MediaError(path, "HEIC/HEIF images need pillow-heif (pip install pillow-heif)")
    try:
        return _read_with_pil(path, max_side)
    except MediaError:
        raise
    except Image.DecompressionBombError:
        raise MediaError(path, "image too large to decode safely") from None
    except UnidentifiedImageError:
        raise MediaError(path, "not an image (unrecognised format)") from None
    except (OSError, ValueError, SyntaxError) as err:
        log.debug("PIL could not decode %s (%s); trying OpenCV", path, err)
        try:
            return _read_with_opencv(path, max_side)
        except MediaError:
            raise MediaError(path, f"corrupt or truncated image ({err})") from None


def looks_like_image(path: Path) -> bool:
    """True when PIL recognises the file's header (cheap; does not decode pixels)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path):
                return True
    except Exception:  # any failure means "not an image we can read"
        return False
