"""Sliding windows over an audio stream, each with its log-mel spectrogram, in bounded memory.

``stream_windows(blocks, front, window_s, hop_s)`` yields the windows ``sliding_windows`` places
(the last one ending at the end of the audio) with the spectrogram slice that one ``log_mel`` of
the whole wave gives them (``fit_frames`` at offset 0). Audio shorter than ``WHOLE_BELOW_S`` is
computed from the whole wave; longer audio is framed as it arrives, holding a few seconds of
samples and spectrogram at a time, so hours of sound cost what a minute does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from emoscope.data.audio import (
    AudioFrontEnd,
    fit_frames,
    log_mel,
    log_mel_of_padded,
    sliding_windows,
)

WHOLE_BELOW_S = 60.0  # audio shorter than this is framed in one piece
FRAME_ALIGN = 64  # spectrogram frames are computed in multiples of this many
PIECE_S = 20.0  # longer audio is framed this many seconds at a time


@dataclass
class AudioWindow:
    """One window: sample range [start, end), its samples and (n_mels, frames) log-mel."""

    start: int
    end: int
    samples: np.ndarray
    spectrogram: np.ndarray


def stream_windows(blocks: Iterable[np.ndarray], front: AudioFrontEnd, window_s: float,
                   hop_s: float, whole_below_s: float = WHOLE_BELOW_S) -> Iterator[AudioWindow]:
    """Windows of the mono blocks (at ``front.sample_rate``) in order; see the module doc."""
    rate = front.sample_rate
    size = int(round(window_s * rate))
    whole_below = max(int(whole_below_s * rate), 2 * size + front.n_fft)
    blocks = iter(blocks)
    head, count = [], 0
    for block in blocks:
        head.append(np.asarray(block, dtype=np.float32))
        count += block.size
        if count >= whole_below:
            break
    else:
        yield from _whole_windows(_joined(head), front, window_s, hop_s)
        return
    pieces = _regrouped(blocks, int(PIECE_S * rate))
    yield from _Framer(front, window_s, hop_s).run(itertools.chain([_joined(head)], pieces))


def _regrouped(blocks: Iterator[np.ndarray], samples: int) -> Iterator[np.ndarray]:
    """The blocks joined into pieces of at least ``samples`` (the last one may be shorter):
    few large matrix products instead of many small ones, which a busy CPU makes slow."""
    group, count = [], 0
    for block in blocks:
        group.append(block)
        count += block.size
        if count >= samples:
            yield _joined(group)
            group, count = [], 0
    if group:
        yield _joined(group)


def _joined(blocks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def _whole_windows(wave: np.ndarray, front: AudioFrontEnd, window_s: float,
                   hop_s: float) -> Iterator[AudioWindow]:
    whole = log_mel(wave, front)
    hop, frames = front.hop_length, front.frames(window_s)
    for a, b in sliding_windows(len(wave), front.sample_rate, window_s, hop_s):
        spec = fit_frames(whole[:, a // hop: a // hop + frames], frames, offset=0)
        yield AudioWindow(a, b, wave[a:b], spec)


class _Framer:
    """Frames a stream of at least two windows: the samples live in ``padded`` (the wave with
    its reflected start, and at the end its reflected end, as ``centre_pad`` makes them), from
    padded index ``p0``; computed spectrogram frames live in ``spec`` from frame ``s0``."""

    def __init__(self, front: AudioFrontEnd, window_s: float, hop_s: float):
        rate = front.sample_rate
        self.front = front
        self.size = int(round(window_s * rate))
        self.step = max(1, int(round(hop_s * rate)))
        self.hop, self.n_fft, self.pad = front.hop_length, front.n_fft, front.n_fft // 2
        self.frames = front.frames(window_s)
        self.padded, self.p0 = np.zeros(0, np.float32), 0
        self.spec, self.s0 = np.zeros((front.n_mels, 0), np.float32), 0
        self.computed = 0  # frames computed so far (the next frame's index)
        self.seen = 0  # wave samples received
        self.next_start, self.last_start = 0, 0

    def run(self, blocks: Iterator[np.ndarray]) -> Iterator[AudioWindow]:
        for block in blocks:
            received = block.size
            if self.seen == 0:  # np.pad's reflection of the start: samples 1..pad reversed
                block = np.concatenate([block[1:self.pad + 1][::-1], block])
            self.padded = np.concatenate([self.padded, block])
            self.seen += received
            self._compute_frames()
            yield from self._ready_windows()
            self._trim()
        n, p0 = self.seen, self.p0
        tail = self.padded[n - 1 - p0: n - 1 + self.pad - p0][::-1]  # the end, reflected
        self.padded = np.concatenate([self.padded, tail])
        self._compute_frames(final=True)
        yield from self._ready_windows()
        if self.last_start + self.size < n:
            yield self._window(n - self.size)

    def _compute_frames(self, final: bool = False) -> None:
        available = self.p0 + self.padded.size
        end = (available - self.n_fft) // self.hop + 1
        if not final:  # pieces start on the same frame grid as the whole file's matrix
            end -= end % FRAME_ALIGN  # product, so every frame gets the same rounding
        if end <= self.computed:
            return
        piece = self.padded[self.computed * self.hop - self.p0: (end - 1) * self.hop
                            + self.n_fft - self.p0]
        self.spec = np.concatenate([self.spec, log_mel_of_padded(piece, self.front)], axis=1)
        self.computed = end

    def _ready_windows(self) -> Iterator[AudioWindow]:
        while (self.next_start + self.size <= self.seen
               and self.next_start // self.hop + self.frames <= self.computed):
            yield self._window(self.next_start)
            self.last_start = self.next_start
            self.next_start += self.step

    def _window(self, start: int) -> AudioWindow:
        first = start + self.pad - self.p0
        samples = self.padded[first: first + self.size]
        frame = start // self.hop - self.s0
        spec = fit_frames(self.spec[:, frame: frame + self.frames], self.frames, offset=0)
        return AudioWindow(start, start + self.size, samples.copy(), spec.copy())

    def _trim(self) -> None:
        """Drop what no later window or frame needs: samples before the last window (the final
        window may start before the next regular one), frames before it, and keep the last
        ``pad + 1`` samples that the reflected end is made of."""
        keep_p = min(self.last_start + self.pad, self.computed * self.hop, self.seen - 1)
        if keep_p > self.p0:
            self.padded = self.padded[keep_p - self.p0:].copy()
            self.p0 = keep_p
        keep_s = min(self.last_start // self.hop, self.computed)
        if keep_s > self.s0:
            self.spec = self.spec[:, keep_s - self.s0:].copy()
            self.s0 = keep_s
