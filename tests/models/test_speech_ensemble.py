"""Speech ensembles: exact averaging on spectrograms, float16 storage, front-end checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from emoscope.data.audio import AudioFrontEnd
from emoscope.data.speech_arrays import SpeechArrays
from emoscope.errors import UserError
from emoscope.evaluation.speech import evaluate_speech_arrays
from emoscope.labels import RAVDESS_LABELS
from emoscope.models.backbones import Preprocessing
from emoscope.models.ensemble import build_ensemble, save_ensemble
from emoscope.models.files.checkpoint import ModelCard, load_model, save_model
from emoscope.models.speech import SpeechCNN

KWARGS = {"num_classes": 8, "n_mels": 16, "channels": [8, 8]}


def _save_speech(tmp_path, seed: int, front_end: AudioFrontEnd | None = None):
    torch.manual_seed(seed)
    model = SpeechCNN(**KWARGS).eval()
    card = ModelCard(f"speech{seed}", "speech_cnn", KWARGS, RAVDESS_LABELS,
                     Preprocessing((1, 16, 40), (0.0,), (1.0,)), task="speech_emotion",
                     extra={"audio": (front_end or AudioFrontEnd(n_mels=16)).to_dict()})
    return save_model(model, card, tmp_path / f"speech{seed}"), model


def test_speech_ensemble_averages_and_stores_half(tmp_path, one_torch_thread):
    paths, models = zip(*(_save_speech(tmp_path, seed) for seed in (1, 2)), strict=True)
    full = save_ensemble(list(paths), tmp_path / "full")
    half = save_ensemble(list(paths), tmp_path / "half", precision="float16")
    stored = load_file(str(half))
    assert all(t.dtype == torch.float16 for k, t in stored.items() if "num_batches" not in k)
    payload = sum(t.numel() * t.element_size() for t in stored.values())
    assert payload < 0.55 * sum(t.numel() * t.element_size()
                                for t in load_file(str(full)).values())
    loaded, card = load_model(half)
    assert card.extra["stored_dtype"] == "float16" and card.extra["audio"]["n_mels"] == 16
    x = torch.randn(3, 16, 40)
    with torch.no_grad():
        mean = sum(m(x)["logits"].softmax(1) for m in models) / 2
        torch.testing.assert_close(loaded(x)["logits"].softmax(1), mean, atol=2e-3, rtol=0)
        assert next(loaded.parameters()).dtype == torch.float32

    rng = np.random.default_rng(0)
    arrays = SpeechArrays(features=rng.normal(size=(16, 16, 40)).astype(np.float32),
                          lengths=np.full(16, 40), labels=np.arange(16) % 8,
                          label_space=RAVDESS_LABELS, front_end=AudioFrontEnd(n_mels=16))
    report = evaluate_speech_arrays(loaded, card, arrays)
    with torch.no_grad():
        expected = (sum(m(torch.from_numpy(arrays.features))["logits"].softmax(1)
                        for m in models)).argmax(1).numpy()
    assert report["accuracy"] == pytest.approx((expected == arrays.labels).mean())


def test_speech_ensemble_members_share_the_front_end(tmp_path):
    first, _ = _save_speech(tmp_path, 3)
    other, _ = _save_speech(tmp_path, 4, AudioFrontEnd(n_mels=16, sample_rate=22050))
    with pytest.raises(UserError, match=r"speech4\.safetensors: its audio front end differs"):
        build_ensemble([first, other])
