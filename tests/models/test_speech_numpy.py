"""The numpy GE2E encoder computes what the torch ``speech_ge2e`` encoder computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emoscope.data.audio import AudioFrontEnd, log_mel
from emoscope.errors import UserError
from emoscope.models.speech_ge2e import SpeechGE2E
from emoscope.models.speech_numpy import NumpyGE2E

FRONT = AudioFrontEnd()


def _voice(seconds: float, pitch: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(pitch * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 10))
    wave += 0.01 * np.random.default_rng(1).standard_normal(t.size)
    return (0.1 * wave / np.abs(wave).max()).astype(np.float32)


def _torch_model() -> SpeechGE2E:
    torch.manual_seed(0)
    model = SpeechGE2E(num_classes=8, front_end=FRONT.to_dict(), layers=2).eval()
    with torch.no_grad():  # weights as large as a trained encoder's, not the tiny default init
        for p in model.backbone.parameters():
            p.mul_(3.0)
    return model


@pytest.mark.parametrize("pitch,seconds", [(150.0, 1.0), (260.0, 2.3)])
def test_pooled_features_match_torch(one_torch_thread, pitch, seconds):
    model = _torch_model()
    spec = log_mel(_voice(seconds, pitch), FRONT)[None]
    with torch.inference_mode():
        expected = model.features(torch.from_numpy(spec)).numpy()[0]
    weights = {k: v.numpy() for k, v in model.state_dict().items() if k.startswith("backbone")}
    encoder = NumpyGE2E(weights, FRONT, layers=2)
    got = encoder.pooled(spec)[0]
    assert got.shape == (512,)
    assert np.abs(got - expected).max() < 1e-4
    both = encoder.pooled(spec, layers=(1, 2))[0]
    assert both.shape == (1024,) and np.allclose(both[512:], got)


def test_batched_clips_pool_like_single_ones():
    model = _torch_model()
    weights = {k: v.numpy() for k, v in model.state_dict().items() if k.startswith("backbone")}
    encoder = NumpyGE2E(weights, FRONT, layers=2)
    specs = np.stack([log_mel(_voice(1.0, p), FRONT) for p in (120.0, 300.0)])
    batch = encoder.pooled(specs)
    assert np.allclose(batch[1], encoder.pooled(specs[1:])[0], atol=1e-5)
    assert np.abs(batch[0] - batch[1]).max() > 1e-3  # different voices, different features


def test_missing_weights_are_named():
    with pytest.raises(UserError, match="weight_hh_l1"):
        NumpyGE2E({"backbone.weight_ih_l0": np.zeros((1024, 40)),
                   "backbone.weight_hh_l0": np.zeros((1024, 256)),
                   "backbone.bias_ih_l0": np.zeros(1024), "backbone.bias_hh_l0": np.zeros(1024),
                   "backbone.weight_ih_l1": np.zeros((1024, 256))}, FRONT, layers=2)


def test_torch_model_pools_layers_one_and_two_like_numpy(one_torch_thread):
    torch.manual_seed(0)
    model = SpeechGE2E(num_classes=8, front_end=FRONT.to_dict(), layers=2,
                       pool_layers=(1, 2)).eval()
    spec = log_mel(_voice(1.4, 200.0), FRONT)[None]
    with torch.inference_mode():
        got = model.features(torch.from_numpy(spec)).numpy()[0]
        assert model(torch.from_numpy(spec))["logits"].shape == (1, 8)
    weights = {k: v.numpy() for k, v in model.state_dict().items() if k.startswith("backbone")}
    expected = NumpyGE2E(weights, FRONT, layers=2).pooled(spec, layers=(1, 2))[0]
    assert got.shape == (1024,) and np.abs(got - expected).max() < 1e-4
    with pytest.raises(UserError, match="pool_layers"):
        SpeechGE2E(num_classes=8, front_end=FRONT.to_dict(), layers=2, pool_layers=(3,))
