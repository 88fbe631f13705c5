"""int8 / float16 weight storage: sizes, the error of a round-trip, bad files, the CLI switch."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from cli_runner import run_cli
from emoscope.errors import UserError
from emoscope.labels import RAVDESS_LABELS
from emoscope.models.backbones import Preprocessing
from emoscope.models.files.checkpoint import ModelCard, load_model, save_model
from emoscope.models.files.weight_storage import compress, expand
from emoscope.models.speech import SpeechCNN

KWARGS = {"num_classes": 8, "n_mels": 16, "channels": [128, 256]}


def _model_and_card(seed: int = 0):
    torch.manual_seed(seed)
    model = SpeechCNN(**KWARGS).eval()
    card = ModelCard("cnn", "speech_cnn", KWARGS, RAVDESS_LABELS,
                     Preprocessing((1, 16, 40), (0.0,), (1.0,)), task="speech_emotion",
                     extra={"audio": {"n_mels": 16}})
    return model, card


def test_int8_round_trip_is_within_half_a_step_per_channel():
    weight = torch.randn(2, 10_000) * 0.01
    weight[0, :3] = torch.tensor([1.0, -0.5, 0.25])
    weight[1, :3] = torch.tensor([0.01, 0.02, -0.03])
    weight[1, 3:] = weight[1, 3:].clamp(-0.03, 0.03)
    stored = compress({"w": weight, "b": torch.tensor([0.1, 0.2]),
                       "n": torch.tensor(3)}, "int8")
    assert stored["w:int8"].dtype == torch.int8 and stored["w:scale"].dtype == torch.float16
    assert stored["w:int8"][:, :3].tolist() == [[127, -64, 32], [42, 85, -127]]
    assert stored["b"].dtype == torch.float16 and stored["n"].dtype == torch.int64
    back = expand(stored, "x")
    assert set(back) == {"w", "b", "n"} and back["w"].dtype == torch.float32
    step = weight.abs().amax(1, keepdim=True) / 127
    assert ((back["w"] - weight).abs() <= step / 2 + 1e-6).all()
    assert back["w"][0, 0].item() == pytest.approx(1.0, abs=1e-3)  # the largest is exact


def test_depthwise_and_small_weights_stay_float16():
    tensors = {"depthwise": torch.randn(1152, 1, 5, 5),  # 28,800 values, 25 per channel
               "stem": torch.randn(32, 3, 3, 3), "head": torch.randn(8, 1280),
               "pointwise": torch.randn(192, 1152, 1, 1)}
    stored = compress(tensors, "int8")
    assert {k: v.dtype for k, v in stored.items()} == {
        "depthwise": torch.float16, "stem": torch.float16, "head": torch.float16,
        "pointwise:int8": torch.int8, "pointwise:scale": torch.float16}
    assert stored["pointwise:scale"].shape == (192,)


def test_an_all_zero_channel_stays_zero():
    weight = torch.zeros(2, 10_000)
    weight[1] = 1.0
    back = expand(compress({"w": weight}, "int8"), "x")["w"]
    assert torch.equal(back[0], torch.zeros(10_000)) and torch.isfinite(back).all()
    torch.testing.assert_close(back[1], weight[1], rtol=1e-3, atol=0)  # float16 scale


def test_int8_model_file_is_smaller_and_predicts_like_the_original(tmp_path):
    model, card = _model_and_card()
    full = save_model(model, card, tmp_path / "full")
    small = save_model(model, card, tmp_path / "small", precision="int8")
    assert small.stat().st_size < 0.3 * full.stat().st_size
    loaded, loaded_card = load_model(small)
    assert loaded_card.extra["stored_dtype"].startswith("int8")
    assert next(loaded.parameters()).dtype == torch.float32
    x = torch.randn(64, 16, 40)
    with torch.no_grad():
        want, got = model(x)["logits"].softmax(1), loaded(x)["logits"].softmax(1)
    assert (want - got).abs().max() < 0.02
    assert (want.argmax(1) == got.argmax(1)).float().mean() >= 0.95
    # saving again at full precision drops the stored dtype from the card
    again = save_model(loaded, loaded_card, tmp_path / "again")
    assert "stored_dtype" not in json.loads(again.with_suffix(".json").read_text())["extra"]


def test_a_quantised_weight_without_its_scale_is_one_error_line(tmp_path):
    model, card = _model_and_card()
    path = save_model(model, card, tmp_path / "m", precision="int8")
    state = load_file(str(path))
    key = next(k for k in state if k.endswith(":scale"))
    del state[key]
    save_file(state, str(path))
    with pytest.raises(UserError, match=r"m\.safetensors: int8 weight '.*' has no matching"):
        load_model(path)


def test_unknown_precision_is_refused():
    with pytest.raises(UserError, match="unknown weight precision 'int4'"):
        compress({"w": torch.zeros(2, 2)}, "int4")


def test_ensemble_command_stores_int8(tmp_path, monkeypatch, capsys):
    paths = []
    for seed in (0, 1):
        model, card = _model_and_card(seed)
        paths.append(str(save_model(model, card, tmp_path / f"m{seed}")))
    out = tmp_path / "ens.safetensors"
    code, printed, err = run_cli(monkeypatch, capsys, "ensemble", *paths, "-o", out,
                                 "--precision", "int8")
    assert code == 0, err
    assert "ensemble of 2" in printed
    assert any(t.dtype == torch.int8 for t in load_file(str(out)).values())
    assert load_model(out)[1].extra["stored_dtype"].startswith("int8")
    code, _, err = run_cli(monkeypatch, capsys, "ensemble", *paths, "-o", tmp_path / "bad",
                           "--precision", "int4")
    assert code == 2 and "unknown weight precision 'int4'" in err
    assert not (tmp_path / "bad.safetensors").exists()
    code, _, err = run_cli(monkeypatch, capsys, "ensemble", *paths, "-o", tmp_path / "both",
                           "--half", "--precision", "int8")
    assert code == 2 and "contradicts --precision int8" in err
    assert not (tmp_path / "both.safetensors").exists()
