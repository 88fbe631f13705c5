"""Audio front end: decode any wav/flac/ogg file or the audio track of a video, mix to mono,
resample, and turn waveforms into log-mel spectrograms.

soundfile reads the lossless formats; PyAV reads everything else (mp3, m4a, the audio stream of
mp4/mkv/...). Resampling uses soxr (libsoxr, a librosa dependency); the mel filterbank follows
librosa's default definition (tested equal to it) and the STFT is plain numpy, so no numba
compilation is paid at start-up.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
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
SILENCE_DB = -50.0  # window RMS (dBFS) below which a window holds no voice worth reading
BLOCK_SAMPLES = 65536  # samples per block when audio is streamed (4 s at 16 kHz)
# Sample rates a file may declare: a WAV header saying 1 Hz would make each stored sample a
# second of sound, and resampling it to 16 kHz sixteen thousand output samples.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 768_000


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
    without sound check ``has_audio_stream`` first. Long files: ``iter_audio`` streams them.
    """
    decoded = list(iter_audio(path, sample_rate))  # never empty: no samples is a MediaError
    return np.concatenate([block for block, _ in decoded]), int(decoded[-1][1])


def iter_audio(path: str | Path, sample_rate: int | None = 16000,
               block_samples: int = BLOCK_SAMPLES) -> Iterator[tuple[np.ndarray, int]]:
    """``(samples, rate)`` blocks of mono float32 audio in playing order, decoded and resampled
    as they are read: memory stays the same for any duration, and the samples joined are
    exactly ``load_audio``'s (one resampler runs over the whole stream). MediaError as
    ``load_audio``; a block may be empty while the resampler fills."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "file not found")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty file")
    decoded = _soundfile_blocks if path.suffix.lower() in SOUNDFILE_SUFFIXES else _pyav_blocks
    resampler, samples = None, 0
    for block, rate in decoded(path, block_samples):
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise MediaError(path, f"sample rate of {rate} Hz is not audio (expected "
                                   f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz)")
        if not np.isfinite(block).all():
            raise MediaError(path, "audio samples are not finite")
        samples += block.size
        if sample_rate is None or rate == sample_rate:
            yield block, rate
            continue
        if resampler is None:
            import soxr

            resampler = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32",
                                            quality="HQ")
        yield resampler.resample_chunk(block, last=False), sample_rate
    if samples == 0:
        raise MediaError(path, "no audio samples")
    if resampler is not None:
        yield resampler.resample_chunk(np.zeros(0, np.float32), last=True), sample_rate


def _soundfile_blocks(path: Path, block_samples: int) -> Iterator[tuple[np.ndarray, int]]:
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as sound:
            rate = int(sound.samplerate)
            while True:
                data = sound.read(block_samples, dtype="float32", always_2d=True)
                if not len(data):
                    return
                yield to_mono(data), rate
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise MediaError(path, f"cannot decode audio ({reason[:120]})") from None


def _pyav_blocks(path: Path, block_samples: int) -> Iterator[tuple[np.ndarray, int]]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(path, "no audio stream")
            stream = container.streams.audio[0]
            rate = int(stream.rate or stream.codec_context.sample_rate or 0)
            if rate <= 0:
                raise MediaError(path, "no audio samples")
            # One resampler turns every codec's sample layout into float32 planar channels.
            resampler = av.AudioResampler(format="fltp", layout=None, rate=rate)
            pending: list[np.ndarray] = []
            for frame in itertools.chain(container.decode(stream), [None]):
                pending.extend(out.to_ndarray() for out in resampler.resample(frame))
                if pending and (frame is None or sum(p.shape[1] for p in pending)
                                >= block_samples):
                    yield to_mono(np.concatenate(pending, axis=1).T), rate  # (samples, ch)
                    pending = []
    except av.error.FFmpegError as err:
        raise MediaError(path, f"cannot decode audio ({err.__class__.__name__})") from None


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


def centre_pad(wave: np.ndarray, n_fft: int) -> np.ndarray:
    """The wave with ``n_fft // 2`` samples reflected on each side, so frame k is centred on
    sample ``k * hop`` (zeros for a clip too short to reflect)."""
    wave = np.asarray(wave, dtype=np.float32)
    pad = n_fft // 2
    mode = "reflect" if wave.size > pad else "constant"
    padded = np.pad(wave, pad, mode=mode)
    if padded.size < n_fft:
        padded = np.pad(padded, (0, n_fft - padded.size))
    return padded


def power_spectrogram(wave: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """(n_fft // 2 + 1, frames) power of centred frames (reflect padding, periodic Hann)."""
    return framed_power(centre_pad(wave, n_fft), n_fft, hop_length)


def framed_power(padded: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """(n_fft // 2 + 1, frames) power of the frames ``padded[k * hop: k * hop + n_fft]``."""
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    spectrum = np.fft.rfft(frames * _window(n_fft), axis=1)
    return (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32).T


def log_mel(wave: np.ndarray, front: AudioFrontEnd) -> np.ndarray:
    """(n_mels, frames) float32 natural-log mel power; frames = len(wave) // hop + 1."""
    return log_mel_of_padded(centre_pad(wave, front.n_fft), front)


def log_mel_of_padded(padded: np.ndarray, front: AudioFrontEnd) -> np.ndarray:
    """``log_mel`` of frames of an already padded stretch (a piece of a longer stream)."""
    power = framed_power(padded, front.n_fft, front.hop_length)
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
