"""speech_ge2e: the band mapping onto the encoder's filterbank, loudness invariance, loading
the Resemblyzer checkpoint (and refusing other files), learning tones, ONNX, ensembles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emoscope.data.audio import AudioFrontEnd, log_mel, mel_filterbank
from emoscope.errors import UserError
from emoscope.models import speech_ge2e
from emoscope.models.speech_ge2e import (
    ENCODER_FRONT_END,
    SpeechGE2E,
    band_mapping,
    load_encoder_weights,
    resemblyzer_weights_file,
)

FRONT = AudioFrontEnd().to_dict()


def _voice(seconds: float = 1.5, pitch: float = 180.0, rate: int = 16000) -> np.ndarray:
    """A harmonic 'voice' with a vibrato and a little noise."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(pitch * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 12))
    wave += 0.01 * np.random.default_rng(0).standard_normal(t.size)
    return (0.1 * wave / np.abs(wave).max()).astype(np.float32)


def test_band_mapping_reproduces_the_encoder_filterbank():
    mapping = band_mapping(AudioFrontEnd())
    assert mapping.shape == (40, 64)
    approx = mapping @ mel_filterbank(AudioFrontEnd())
    exact = mel_filterbank(ENCODER_FRONT_END)
    # every band within 20% (L1) of its own filter; a voice's band powers within 10%
    assert (np.abs(approx - exact).sum(1) / exact.sum(1)).max() < 0.2
    wave = _voice()
    power64 = np.exp(log_mel(wave, AudioFrontEnd()))
    power40 = np.exp(log_mel(wave, ENCODER_FRONT_END))
    mapped = np.clip(mapping @ power64, 0, None)
    loud = power40.sum(1) > 1e-3 * power40.sum(1).max()
    assert np.median(np.abs(mapped - power40).sum(1)[loud] / power40.sum(1)[loud]) < 0.1


def test_band_mapping_needs_the_encoders_fft():
    with pytest.raises(UserError, match="n_fft 512"):
        band_mapping(AudioFrontEnd(n_fft=512))


@pytest.mark.parametrize("frames", [301, 101, 7])
def test_logits_for_any_length_and_loudness(one_torch_thread, frames):
    torch.manual_seed(0)
    model = SpeechGE2E(num_classes=8, front_end=FRONT).eval()
    wave = _voice(seconds=frames / 100)
    quiet = torch.from_numpy(log_mel(wave, AudioFrontEnd()))[None]
    loud = torch.from_numpy(log_mel(wave * 8, AudioFrontEnd()))[None]
    with torch.no_grad():
        out_quiet, out_loud = model(quiet)["logits"], model(loud[:, None])["logits"]
    assert out_quiet.shape == (1, 8) and torch.isfinite(out_quiet).all()
    torch.testing.assert_close(out_quiet, out_loud, atol=2e-4, rtol=1e-3)


def _fake_checkpoint(path, drop: str | None = None) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    state = {}
    for layer in range(3):
        inputs = 40 if layer == 0 else 256
        for name, shape in (("weight_ih", (1024, inputs)), ("weight_hh", (1024, 256)),
                            ("bias_ih", (1024,)), ("bias_hh", (1024,))):
            state[f"lstm.{name}_l{layer}"] = torch.randn(shape, generator=generator) * 0.05
    state["linear.weight"], state["linear.bias"] = torch.zeros(256, 256), torch.zeros(256)
    if drop:
        state.pop(drop)
    torch.save({"model_state": state, "step": 3}, path)
    return state


def test_encoder_layers_come_from_the_checkpoint(tmp_path):
    state = _fake_checkpoint(tmp_path / "pretrained.pt")
    lstm = torch.nn.LSTM(40, 256, 2, batch_first=True)
    load_encoder_weights(lstm, tmp_path / "pretrained.pt")
    torch.testing.assert_close(lstm.weight_hh_l1, state["lstm.weight_hh_l1"])
    torch.testing.assert_close(lstm.bias_ih_l0, state["lstm.bias_ih_l0"])


def test_other_files_are_refused_with_their_name(tmp_path):
    _fake_checkpoint(tmp_path / "short.pt", drop="lstm.weight_ih_l1")
    lstm = torch.nn.LSTM(40, 256, 2, batch_first=True)
    with pytest.raises(UserError, match=r"short\.pt: Resemblyzer checkpoint lacks"):
        load_encoder_weights(lstm, tmp_path / "short.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match=r"junk\.pt: not a Resemblyzer checkpoint"):
        load_encoder_weights(lstm, tmp_path / "junk.pt")


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(speech_ge2e, "resemblyzer_weights_file", lambda: None)
    with pytest.raises(UserError, match="pip install --no-deps Resemblyzer==0.1.4"):
        SpeechGE2E(num_classes=8, pretrained="offline", front_end=FRONT)
    with pytest.raises(UserError, match="layers must be 1, 2 or 3"):
        SpeechGE2E(num_classes=8, layers=4, front_end=FRONT)


@pytest.mark.skipif(resemblyzer_weights_file() is None, reason="Resemblyzer not installed")
def test_installed_resemblyzer_weights_load():
    path = resemblyzer_weights_file()
    state = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
    model = SpeechGE2E(num_classes=8, pretrained="offline", front_end=FRONT)
    assert model.backbone.num_layers == 2
    torch.testing.assert_close(model.backbone.weight_ih_l1, state["lstm.weight_ih_l1"])


@pytest.mark.skipif(resemblyzer_weights_file() is None, reason="Resemblyzer not installed")
def test_pretrained_encoder_learns_pitch_classes(one_torch_thread):
    """Three pitches: from the pretrained encoder the loss collapses within 40 steps (from a
    random LSTM it does not: the encoder's input is mel power at a speaker's level)."""
    torch.manual_seed(0)
    model = SpeechGE2E(num_classes=3, pretrained="offline", front_end=FRONT,
                       spec_augment=False, dropout=0.0)
    pitches = (110.0, 220.0, 440.0)
    x = torch.stack([torch.from_numpy(log_mel(_voice(0.5, p * (1 + 0.02 * k)), AudioFrontEnd()))
                     for p in pitches for k in range(4)])
    y = torch.arange(3).repeat_interleave(4)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(model(x)["logits"], y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    model.eval()
    assert (model(x)["logits"].argmax(1) == y).float().mean() >= 0.9


def test_ensemble_with_a_cnn_averages_probabilities(tmp_path, one_torch_thread):
    """Different architectures on one front end ensemble; nesting averages per level."""
    from emoscope.labels import RAVDESS_LABELS
    from emoscope.models.backbones import Preprocessing
    from emoscope.models.ensemble import save_ensemble
    from emoscope.models.files.checkpoint import ModelCard, load_model, save_model
    from emoscope.models.speech import SpeechCNN

    torch.manual_seed(0)
    prep = Preprocessing((1, 64, 101), (0.0,), (1.0,))
    cnn = SpeechCNN(num_classes=8, channels=(16, 16)).eval()
    ge2e = SpeechGE2E(num_classes=8, front_end=FRONT).eval()
    paths = []
    for name, model, arch, kwargs in (
            ("cnn", cnn, "speech_cnn", {"num_classes": 8, "channels": [16, 16]}),
            ("ge2e", ge2e, "speech_ge2e", {"num_classes": 8, "front_end": FRONT})):
        card = ModelCard(name, arch, kwargs, RAVDESS_LABELS, prep, task="speech_emotion",
                         extra={"audio": AudioFrontEnd().to_dict()})
        paths.append(save_model(model, card, tmp_path / name))
    pair = save_ensemble(paths, tmp_path / "pair.safetensors")
    nested = save_ensemble([pair, paths[1]], tmp_path / "nested.safetensors")
    x = torch.from_numpy(log_mel(_voice(), AudioFrontEnd()))[None]
    with torch.no_grad():
        p_cnn, p_ge2e = (torch.softmax(m(x)["logits"], 1) for m in (cnn, ge2e))
        p_pair = torch.softmax(load_model(pair)[0](x)["logits"], 1)
        p_nested = torch.softmax(load_model(nested)[0](x)["logits"], 1)
    torch.testing.assert_close(p_pair, (p_cnn + p_ge2e) / 2, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(p_nested, (p_pair + p_ge2e) / 2, atol=1e-5, rtol=1e-4)


def test_onnx_export_matches_pytorch_on_any_length(one_torch_thread):
    pytest.importorskip("onnxruntime")
    from emoscope.labels import RAVDESS_LABELS
    from emoscope.models.backbones import Preprocessing
    from emoscope.models.files.checkpoint import ModelCard
    from emoscope.models.files.onnx_export import make_session, onnx_bytes, parity

    torch.manual_seed(0)
    model = SpeechGE2E(num_classes=8, front_end=FRONT).eval()
    card = ModelCard("ge2e", "speech_ge2e", {"num_classes": 8, "front_end": FRONT},
                     RAVDESS_LABELS, Preprocessing((1, 64, 301), (0.0,), (1.0,)),
                     task="speech_emotion", extra={"audio": AudioFrontEnd().to_dict()})
    data, _ = onnx_bytes(model, card)
    session = make_session(data, threads=1)
    voices = [torch.from_numpy(log_mel(_voice(s, p), AudioFrontEnd()))[None, None]
              for s, p in ((3.0, 150.0), (1.0, 260.0))]
    assert parity(model, card, session, inputs=[[v] for v in voices]) < 1e-4
    assert parity(model, card, session, batches=(1, 5)) < 1e-4  # random log-mel, any batch
