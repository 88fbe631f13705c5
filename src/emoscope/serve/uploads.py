"""What a request may hand the service: an uploaded image, video or audio file (content type,
magic bytes and size checked while it streams in) or a server path inside the allowed folder."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from emoscope.data.audio import AUDIO_SUFFIXES
from emoscope.data.images import IMAGE_SUFFIXES
from emoscope.data.video import VIDEO_SUFFIXES

MEDIA_TYPES = {
    "image/jpeg": "image", "image/png": "image", "image/gif": "image", "image/bmp": "image",
    "image/x-ms-bmp": "image", "image/tiff": "image", "image/webp": "image",
    "image/heic": "image", "image/heif": "image", "image/avif": "image", "image/apng": "image",
    "video/mp4": "video", "video/quicktime": "video", "video/webm": "video",
    "video/x-matroska": "video", "video/x-msvideo": "video", "video/avi": "video",
    "video/x-m4v": "video", "video/mpeg": "video",
}
# Any ``audio/*`` type declares audio (there are many spellings: audio/wav, audio/x-wav, ...).
AUDIO_TYPE_PREFIX = "audio/"
# Containers that also hold sound alone (m4a, webm from a browser's recorder): declared as audio,
# such bytes are read for their audio track.
_AUDIO_CONTAINERS = {".mp4", ".mkv"}
# A client that does not know the type (curl without ;type=, some browsers for .mkv) says this;
# the magic bytes then decide alone.
UNSPECIFIED_TYPE = "application/octet-stream"
SNIFF_BYTES = 16
# ISO media brands of HEIF/AVIF stills (phone photos) and of their image sequences, which
# are refused: neither PIL nor PyAV reads those.
_STILL_BRANDS = {b"heic": ".heic", b"heix": ".heic", b"mif1": ".heic", b"avif": ".avif"}
_SEQUENCE_BRANDS = {b"hevc", b"msf1", b"avis"}
_AUDIO_BRANDS = {b"M4A ", b"M4B "}
_KIND_PHRASE = {"image": "an image", "video": "a video", "audio": "audio"}


class UploadError(Exception):
    """A request the service refuses: HTTP ``status`` and a one-line message."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass
class Upload:
    """An accepted file on local disk; ``source`` is the name rows carry."""

    path: Path
    kind: str  # image | video | audio
    source: str
    size: int


def sniff(head: bytes) -> tuple[str, str] | None:
    """(kind, suffix) from a file's first bytes, or None for anything that is not media."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image", ".jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", ".png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image", ".gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image", ".tif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image", ".webp"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video", ".avi"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio", ".wav"
    if head[4:8] == b"ftyp":  # ISO media: mp4/mov video, m4a audio, HEIF/AVIF stills
        brand = head[8:12]
        if brand in _AUDIO_BRANDS:
            return "audio", ".m4a"
        if brand in _STILL_BRANDS:
            return "image", _STILL_BRANDS[brand]
        return None if brand in _SEQUENCE_BRANDS else ("video", ".mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", ".mkv"
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return "video", ".mpg"
    if head.startswith(b"BM") and len(head) >= 14:
        return "image", ".bmp"
    if head.startswith(b"fLaC"):
        return "audio", ".flac"
    if head.startswith(b"OggS"):
        return "audio", ".ogg"
    if head.startswith(b"ID3"):
        return "audio", ".mp3"
    return _sniff_mpeg_audio(head)


def _sniff_mpeg_audio(head: bytes) -> tuple[str, str] | None:
    """An MP3 or ADTS (AAC) frame header: the 11-bit sync, then fields that must not hold
    their reserved values, since a sync alone would match too much binary. (A JPEG's FF D8
    fails the sync; ``sniff`` has matched it before this anyway.)"""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
    if layer == 0:  # ADTS (MPEG-2/4 AAC) always writes layer 00
        adts = head[1] & 0xF6 == 0xF0 and ((head[2] >> 2) & 0xF) < 13
        return ("audio", ".aac") if adts else None
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0b11
    if version == 1 or bitrate in (0, 15) or rate == 3:
        return None
    return "audio", ".mp3"


def safe_name(filename: str | None) -> str:
    """The last component of a client's file name, printable and short (never a path)."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()[:120]
    return name if name not in ("", ".", "..") else "upload"


def check_content_type(content_type: str | None, name: str) -> str | None:
    """The kind the client declared (None: unspecified); 415 for anything but media."""
    declared = (content_type or UNSPECIFIED_TYPE).split(";")[0].strip().lower()
    if declared == UNSPECIFIED_TYPE:
        return None
    if declared.startswith(AUDIO_TYPE_PREFIX):
        return "audio"
    if declared not in MEDIA_TYPES:
        raise UploadError(415, f"{name}: content type '{declared}' is not an image, video or "
                               "audio file type")
    return MEDIA_TYPES[declared]


class FileSink:
    """Writes one upload to ``path``: magic bytes checked on the first bytes, size on every
    chunk, so a wrong or oversized file is refused before the rest is read."""

    def __init__(self, folder: Path, name: str, declared_kind: str | None, limit: int):
        self.folder, self.name, self.declared_kind, self.limit = folder, name, declared_kind, limit
        self.size = 0
        self.kind: str | None = None
        self.path: Path | None = None
        self._head = b""
        self._handle = None

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise UploadError(413, f"{self.name}: upload larger than the "
                                   f"{self.limit / 2**20:g} MB limit")
        if self._handle is None:
            self._head += data
            if len(self._head) < SNIFF_BYTES:
                return
            data, self._head = self._head, b""
            self._open(data)
        self._handle.write(data)

    def _open(self, head: bytes) -> None:
        found = sniff(head)
        if found is None:
            raise UploadError(415, f"{self.name}: not an image, video or audio file "
                                   "(unrecognised file signature)")
        kind, suffix = found
        if self.declared_kind == "audio" and kind == "video" and suffix in _AUDIO_CONTAINERS:
            kind = "audio"
        if self.declared_kind is not None and kind != self.declared_kind:
            raise UploadError(415, f"{self.name}: declared as {self.declared_kind} but the "
                                   f"bytes are {_KIND_PHRASE[kind]}")
        self.kind = kind
        self.path = self.folder / f"upload{suffix}"
        self._handle = open(self.path, "wb")  # noqa: SIM115  (closed by finish/close)

    def finish(self) -> Upload:
        if self._handle is None:
            if self.size == 0:
                raise UploadError(422, f"{self.name}: empty file")
            self._open(self._head)  # fewer than SNIFF_BYTES in all
            self._handle.write(self._head)
        self.close()
        return Upload(self.path, self.kind, self.name, self.size)

    def close(self) -> None:
        if self._handle is not None and not self._handle.closed:
            self._handle.close()


def _disposition(value: str) -> dict[str, str]:
    """``form-data; name="file"; filename="a.jpg"`` -> {"name": ..., "filename": ...}."""
    params = {}
    for match in re.finditer(r';\s*([\w*-]+)=(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))', value):
        params[match.group(1).lower()] = match.group(2) if match.group(2) is not None \
            else match.group(3)
    return params


class _MultipartReader:
    """python-multipart callbacks that accept exactly one file part named ``file``."""

    def __init__(self, folder: Path, limit: int):
        self.folder, self.limit = folder, limit
        self.sink: FileSink | None = None
        self._headers: dict[str, str] = {}
        self._field = self._value = b""
        self._current: FileSink | None = None

    def callbacks(self) -> dict[str, object]:
        return {"on_part_begin": self._part_begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._data}

    def _part_begin(self) -> None:
        self._headers, self._current = {}, None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode("utf-8",
                                                                                  "replace")
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        params = _disposition(self._headers.get("content-disposition", ""))
        if params.get("name") != "file" or "filename" not in params:
            raise UploadError(400, f"unexpected form field '{params.get('name', '')}': send "
                                   "one file field named 'file'; options go in the query string")
        if self.sink is not None:
            raise UploadError(400, "more than one file in one request; send one per request")
        name = safe_name(params["filename"])
        declared = check_content_type(self._headers.get("content-type"), name)
        self.sink = self._current = FileSink(self.folder, name, declared, self.limit)

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._current is not None:
            self._current.write(data[start:end])


async def receive_upload(content_type: str, chunks: AsyncIterator[bytes], folder: Path,
                         limit: int) -> Upload:
    """Stream a ``multipart/form-data`` body into ``folder``; UploadError when refused."""
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    media_type, params = parse_options_header(content_type or "")
    if media_type != b"multipart/form-data":
        raise UploadError(415, "send the file as multipart/form-data (a field named 'file'), "
                               f"not '{media_type.decode('latin-1') or 'no content type'}'")
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadError(400, "multipart/form-data without a boundary")
    reader = _MultipartReader(folder, limit)
    parser = MultipartParser(boundary, reader.callbacks())
    try:
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as err:
        raise UploadError(400, f"malformed multipart body ({err})") from None
    finally:
        if reader.sink is not None:
            reader.sink.close()
    if reader.sink is None:
        raise UploadError(400, "no file in the request: send one file field named 'file'")
    return reader.sink.finish()


def resolve_server_path(raw: str, root: str | None) -> tuple[Path, str]:
    """A file named by a request, inside ``root`` after resolving ``..`` and symlinks."""
    if root is None:
        raise UploadError(403, "server paths are disabled (start the service with "
                               "--allow-path DIR)")
    base = Path(root).resolve()
    try:
        target = (base / raw).resolve()
    except (OSError, RuntimeError, ValueError) as err:  # symlink loops, NUL bytes, long names
        raise UploadError(400, f"{raw}: cannot be resolved ({err})") from None
    # Containment first: whether a file outside the folder exists is none of the client's business.
    if not target.is_relative_to(base):
        raise UploadError(403, f"{raw}: outside the allowed folder")
    if not target.exists():
        raise UploadError(404, f"{raw}: file not found")
    if not target.is_file():
        raise UploadError(400, f"{raw}: not a file")
    suffix = target.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return target, "image"
    if suffix in VIDEO_SUFFIXES:
        return target, "video"
    if suffix in AUDIO_SUFFIXES:
        return target, "audio"
    with open(target, "rb") as handle:
        found = sniff(handle.read(SNIFF_BYTES))
    if found is None:
        raise UploadError(415, f"{raw}: not an image, video or audio file")
    return target, found[0]
