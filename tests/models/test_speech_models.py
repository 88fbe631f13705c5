"""Speech models: shapes on any clip length, SpecAugment, single-channel ImageNet stem."""

from __future__ import annotations

import pytest
import torch

from emoscope.models.speech import (
    SpecAugment,
    SpeechCNN,
    SpeechTimm,
    as_spectrogram_image,
    time_deltas,
)
from emoscope.registry import MODELS


def test_speech_models_are_registered():
    assert {"speech_cnn", "speech_timm"} <= set(MODELS.names())


@pytest.mark.parametrize("frames", [101, 301, 37])
def test_speech_cnn_logits_for_any_length(one_torch_thread, frames):
    model = SpeechCNN(num_classes=8, n_mels=64, channels=(16, 16)).eval()
    assert model(torch.randn(3, 64, frames))["logits"].shape == (3, 8)
    assert model(torch.randn(2, 1, 64, frames))["logits"].shape == (2, 8)


def test_speech_timm_one_channel_backbone(one_torch_thread):
    model = SpeechTimm(num_classes=5, backbone="tiny_cnn_test").eval()
    assert model(torch.randn(2, 64, 120))["logits"].shape == (2, 5)
    assert model.backbone.conv_stem.in_channels == 1


def test_time_deltas_match_librosa():
    librosa = pytest.importorskip("librosa")
    x = torch.randn(3, 64, 50)
    expected = librosa.feature.delta(x.numpy(), width=5, mode="nearest")
    torch.testing.assert_close(time_deltas(x), torch.from_numpy(expected), atol=1e-5, rtol=1e-5)
    ramp = torch.arange(10.0).expand(2, 1, 4, 10)  # slope 1 inside, damped at the edges
    assert torch.allclose(time_deltas(ramp)[..., 2:-2], torch.ones(2, 1, 4, 6))
    assert time_deltas(ramp)[0, 0, 0, 0] == pytest.approx(0.5)


def test_speech_timm_delta_channels_and_frequency_stretch(one_torch_thread):
    model = SpeechTimm(num_classes=8, pretrained="offline", deltas=True, freq_scale=2.0).eval()
    assert model.backbone.conv_stem.in_channels == 3  # the ImageNet RGB stem, untouched
    x = torch.randn(2, 64, 120)
    image = model.image(x)
    assert image.shape == (2, 3, 128, 120)
    torch.testing.assert_close(image[:, 1:].mean(dim=(2, 3)), torch.zeros(2, 2), atol=1e-4,
                               rtol=0)
    assert model(x)["logits"].shape == (2, 8)
    flat = torch.full((1, 64, 30), 2.0) + torch.linspace(0, 1, 64).view(1, 64, 1)
    assert torch.all(model.image(flat)[:, 1:] == 0)  # a steady spectrum has no time deltas
    with pytest.raises(ValueError, match="freq_scale"):
        SpeechTimm(num_classes=8, freq_scale=0)


def test_pretrained_stem_sums_the_rgb_filters(one_torch_thread):
    from emoscope.models.backbones import build_backbone

    torch.manual_seed(0)
    rgb = build_backbone("tf_efficientnet_lite0", pretrained="offline", in_chans=3)
    model = SpeechTimm(num_classes=8, pretrained="offline")
    torch.testing.assert_close(model.backbone.conv_stem.weight,
                               rgb.conv_stem.weight.sum(1, keepdim=True))
    grey = torch.rand(1, 1, 32, 32)
    # a grey image copied to three channels gives the same stem output as the summed filter
    torch.testing.assert_close(model.backbone.conv_stem(grey),
                               rgb.conv_stem(grey.expand(1, 3, 32, 32)), atol=1e-5, rtol=1e-4)


def test_per_clip_normalisation_makes_gain_irrelevant(one_torch_thread):
    x = torch.randn(2, 64, 50)
    image = as_spectrogram_image(x)
    assert image.shape == (2, 1, 64, 50)
    torch.testing.assert_close(image.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(as_spectrogram_image(x + 3.0), image, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="expected"):
        as_spectrogram_image(torch.randn(2, 3, 64, 50))


def test_spec_augment_masks_only_in_training():
    torch.manual_seed(0)
    augment = SpecAugment(freq_masks=1, freq_width=10, time_masks=1, time_width=20)
    x = torch.ones(64, 1, 40, 100)
    augment.eval()
    assert torch.equal(augment(x), x)
    augment.train()
    out = augment(x)
    zero_rows = (out == 0).all(dim=3).sum(dim=(1, 2))  # masked mel bands per clip
    zero_cols = (out == 0).all(dim=2).sum(dim=(1, 2))  # masked frames per clip
    assert zero_rows.max() <= 10 and zero_cols.max() <= 20
    assert zero_rows.float().mean() > 2 and zero_cols.float().mean() > 4


def test_pretrained_speech_timm_round_trips_through_its_card(tmp_path, one_torch_thread):
    """Built with ImageNet weights, rebuilt from the card without them: same outputs."""
    from emoscope.data.audio import AudioFrontEnd
    from emoscope.labels import RAVDESS_LABELS
    from emoscope.models.backbones import Preprocessing
    from emoscope.models.files.checkpoint import ModelCard, load_model, save_model

    kwargs = {"num_classes": 8, "backbone": "tf_efficientnet_lite0"}
    model = SpeechTimm(pretrained="offline", **kwargs).eval()
    card = ModelCard("lite0-speech", "speech_timm", kwargs, RAVDESS_LABELS,
                     Preprocessing((1, 64, 101), (0.0,), (1.0,)), task="speech_emotion",
                     extra={"audio": AudioFrontEnd().to_dict()})
    loaded, _ = load_model(save_model(model, card, tmp_path / "m"))
    x = torch.randn(2, 64, 101)
    torch.testing.assert_close(loaded(x)["logits"], model(x)["logits"])


def test_egemaps_functionals_offline():
    pytest.importorskip("opensmile")
    import numpy as np

    from emoscope.data.audio import egemaps_functionals

    t = np.arange(16000) / 16000
    features = egemaps_functionals(0.3 * np.sin(2 * np.pi * 220 * t), 16000)
    assert len(features) == 88
    assert 30 < features["F0semitoneFrom27.5Hz_sma3nz_amean"] < 36  # 220 Hz = 33.4 semitones
