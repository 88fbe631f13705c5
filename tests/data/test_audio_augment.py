"""Speed perturbation on log-mel: it must match the log-mel of really resampled audio."""

from __future__ import annotations

import numpy as np
import pytest

from emoscope.data.audio import AudioFrontEnd, log_mel
from emoscope.data.audio_augment import mel_centres_hz, random_speed, speed_perturb


def _tone(hz: float, seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_mel_centres_rise_from_fmin_to_fmax():
    front = AudioFrontEnd()
    centres = mel_centres_hz(front)
    assert centres.shape == (64,) and np.all(np.diff(centres) > 0)
    assert front.fmin < centres[0] < 100 and 7000 < centres[-1] < front.fmax


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturb_equals_the_log_mel_of_faster_audio(factor):
    """A 2 s, 600 Hz + 2000 Hz clip sped up by ``factor`` is a (2 / factor) s clip at
    600·factor and 2000·factor Hz: same peak bands, same length, close values."""
    front = AudioFrontEnd()
    slow = _tone(600, 2.0) + _tone(2000, 2.0)
    fast = _tone(600 * factor, 2.0 / factor) + _tone(2000 * factor, 2.0 / factor)
    perturbed = speed_perturb(log_mel(slow, front), factor, front)
    expected = log_mel(fast, front)
    assert abs(perturbed.shape[1] - expected.shape[1]) <= 1
    frames = min(perturbed.shape[1], expected.shape[1])
    profile, truth = perturbed[:, :frames].mean(1), expected[:, :frames].mean(1)
    top = lambda p: sorted(np.argsort(p)[-2:].tolist())  # noqa: E731
    assert all(abs(a - b) <= 1 for a, b in zip(top(profile), top(truth), strict=True))
    assert top(profile) != top(log_mel(slow, front).mean(1))
    loud = truth > truth.max() - 6  # the bands the tones fill, within 6 nepers of the peak
    assert np.abs(profile[loud] - truth[loud]).mean() < 1.5


def test_speed_one_is_the_identity_and_bad_input_is_rejected():
    front = AudioFrontEnd()
    spec = np.random.default_rng(0).normal(size=(64, 50)).astype(np.float32)
    assert np.allclose(speed_perturb(spec, 1.0, front), spec, atol=1e-5)
    with pytest.raises(ValueError, match="positive"):
        speed_perturb(spec, 0.0, front)
    with pytest.raises(ValueError, match="64 mel bands"):
        speed_perturb(spec[:32], 1.1, front)
    with pytest.raises(ValueError, match=r"\[0, 0.5\)"):
        random_speed(np.random.default_rng(0), 0.6)


def test_random_speeds_stay_in_the_spread():
    rng = np.random.default_rng(0)
    speeds = np.array([random_speed(rng, 0.1) for _ in range(500)])
    assert speeds.min() >= 0.9 and speeds.max() <= 1.1 and speeds.std() > 0.05
    assert random_speed(rng, 0.0) == 1.0
