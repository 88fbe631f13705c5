"""Audio front end: decode any wav/flac/ogg file or the audio track of a video, mix to mono,
resample, and turn waveforms into log-mel spectrograms.

soundfile reads the lossless formats; PyAV reads everything else (mp3, m4a, the audio stream of
mp4/mkv/...). Resampling uses soxr (libsoxr, a librosa dependency); the mel filterbank follows
librosa's default definition (tested equal to it) and the STFT is plain numpy, so no numba
compilation is paid at start-up.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.errors import MediaError

log = logging.getLogger(__name__)

SOUNDFILE_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif"})
AUDIO_SUFFIXES = SOUNDFILE_SUFFIXES | {".mp3", ".m4a", ".aac", ".opus", ".wma"}
LOG_FLOOR = 1e-6  # added to mel power before the log: silence maps to log(1e-6) = -13.8


@dataclass(frozen=True)
class AudioFrontEnd:
    """How a waveform becomes model input; stored in every speech model card."""

    sample_rate: int = 16000
    n_mels: int = 64
    n_fft: int = 400  # 25 ms at 16 kHz
    hop_length: int = 160  # 10 ms
    fmin: float = 20.0
    fmax: float = 8000.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioFrontEnd:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def frames(self, seconds: float) -> int:
        """Spectrogram frames of ``seconds`` of audio (centred frames, as ``log_mel``)."""
        return int(round(seconds * self.sample_rate)) // self.hop_length + 1


def _stream_kinds(path: Path) -> tuple[bool, bool]:
    """(has audio, has video) of a container; (False, False) when unreadable."""
    import av

    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio), bool(container.streams.video)
    except (av.error.FFmpegError, OSError, ValueError):
        return False, False


def has_audio_stream(path: str | Path) -> bool:
    """Whether a media file carries at least one audio stream (False when unreadable)."""
    path = Path(path)
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        return path.is_file() and path.stat().st_size > 0
    return _stream_kinds(path)[0]


def is_sound_only(path: str | Path) -> bool:
    """Whether a container (mp4, mkv, webm, ...) holds audio streams and no video stream: a
    phone's voice memo saved as .mp4 is an audio file (False when unreadable)."""
    audio, video = _stream_kinds(Path(path))
    return audio and not video


def load_audio(path: str | Path, sample_rate: int | None = 16000) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and their rate; resampled to ``sample_rate`` unless None.

    Raises ``MediaError`` (one line naming the file) for missing, empty, corrupt or silent-less
    files: a file without any audio samples is an error here; callers that accept videos
    without sound check ``has_audio_stream`` first.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "file not found")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty file")
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        wave, rate = _read_soundfile(path)
    else:
        wave, rate = _read_pyav(path)
    if wave.size == 0:
        raise MediaError(path, "no audio samples")
    if not np.isfinite(wave).all():
        raise MediaError(path, "audio samples are not finite")
    if sample_rate is not None and rate != sample_rate:
        wave = resample(wave, rate, sample_rate)
        rate = sample_rate
    return wave, rate


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise MediaError(path, f"cannot decode audio ({reason[:120]})") from None
    return to_mono(data), int(rate)


def _read_pyav(path: Path) -> tuple[np.ndarray, int]:
    import av

    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(path, "no audio stream")
            stream = container.streams.audio[0]
            rate = int(stream.rate or stream.codec_context.sample_rate or 0)
            # One resampler turns every codec's sample layout into float32 planar channels.
            resampler = av.AudioResampler(format="fltp", layout=None, rate=rate or None)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
    except av.error.FFmpegError as err:
        raise MediaError(path, f"cannot decode audio ({err.__class__.__name__})") from None
    if not chunks or rate <= 0:
        raise MediaError(path, "no audio samples")
    planar = np.concatenate(chunks, axis=1)  # (channels, samples)
    return to_mono(planar.T), rate


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(samples,) or (samples, channels) -> (samples,) float32: the mean over channels."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        return samples
    return samples.mean(axis=1, dtype=np.float32)


def resample(wave: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling (soxr, high quality)."""
    if rate_in == rate_out:
        return np.asarray(wave, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(wave, dtype=np.float32), rate_in, rate_out, "HQ")


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (as librosa's default): linear to 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)),
                    mel * (200.0 / 3))


@lru_cache(maxsize=8)
def mel_filterbank(front: AudioFrontEnd) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters on the Slaney mel scale, each scaled to unit
    area (Slaney normalisation): the definition librosa uses by default, computed here in
    numpy so no numba compilation is paid at start-up."""
    fft_hz = np.linspace(0.0, front.sample_rate / 2, front.n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(front.fmin), hz_to_mel(front.fmax),
                                  front.n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return filters.astype(np.float32)


@lru_cache(maxsize=8)
def _window(n_fft: int) -> np.ndarray:
    return np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann


def power_spectrogram(wave: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """(n_fft // 2 + 1, frames) power of centred frames (reflect padding, periodic Hann)."""
    wave = np.asarray(wave, dtype=np.float32)
    pad = n_fft // 2
    mode = "reflect" if wave.size > pad else "constant"
    padded = np.pad(wave, pad, mode=mode)
    if padded.size < n_fft:
        padded = np.pad(padded, (0, n_fft - padded.size))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    spectrum = np.fft.rfft(frames * _window(n_fft), axis=1)
    return (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32).T


def log_mel(wave: np.ndarray, front: AudioFrontEnd) -> np.ndarray:
    """(n_mels, frames) float32 natural-log mel power; frames = len(wave) // hop + 1."""
    power = power_spectrogram(wave, front.n_fft, front.hop_length)
    return np.log(mel_filterbank(front) @ power + LOG_FLOOR).astype(np.float32)


def fit_frames(spectrogram: np.ndarray, frames: int, offset: int | None = None) -> np.ndarray:
    """Crop or pad (with the silence floor) the time axis to ``frames``; centred by default."""
    length = spectrogram.shape[-1]
    if length >= frames:
        start = (length - frames) // 2 if offset is None else min(max(offset, 0), length - frames)
        return spectrogram[..., start:start + frames]
    out = np.full((*spectrogram.shape[:-1], frames), np.log(LOG_FLOOR), dtype=np.float32)
    start = (frames - length) // 2 if offset is None else 0
    out[..., start:start + length] = spectrogram
    return out


def sliding_windows(duration_samples: int, rate: int, window_s: float,
                    hop_s: float) -> list[tuple[int, int]]:
    """Sample ranges [start, end) of windows of ``window_s`` every ``hop_s``; the last window
    ends at the end of the audio (a clip shorter than one window is one window)."""
    if window_s <= 0 or hop_s <= 0:
        raise ValueError("window and hop must be > 0")
    size, step = int(round(window_s * rate)), max(1, int(round(hop_s * rate)))
    if duration_samples <= size:
        return [(0, duration_samples)]
    starts = list(range(0, duration_samples - size + 1, step))
    if starts[-1] + size < duration_samples:
        starts.append(duration_samples - size)
    return [(s, s + size) for s in starts]


def egemaps_functionals(wave: np.ndarray, rate: int) -> dict[str, float]:
    """The 88 eGeMAPSv02 functionals of a clip (openSMILE, offline); needs ``opensmile``."""
    try:
        import opensmile
    except ImportError:
        from emoscope.errors import UserError

        raise UserError("eGeMAPS features need the opensmile package "
                        "(pip install opensmile)") from None
    smile = _smile(opensmile)
    table = smile.process_signal(np.asarray(wave, dtype=np.float32), rate)
    return {str(k): float(v) for k, v in table.iloc[0].items()}


@lru_cache(maxsize=1)
def _smile(opensmile_module):
    return opensmile_module.Smile(feature_set=opensmile_module.FeatureSet.eGeMAPSv02,
                                  feature_level=opensmile_module.FeatureLevel.Functionals)
