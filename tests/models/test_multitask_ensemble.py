"""Multi-task face model outputs, and ensembles: averaging is exact, files round-trip."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from emoscope.errors import UserError
from emoscope.models.ensemble import EnsembleModel, build_ensemble, save_ensemble
from emoscope.models.files.checkpoint import load_model
from emoscope.models.multitask import OUTPUTS, MultiTaskFaceModel
from multitask_models import KWARGS, save_multitask


def test_multitask_heads_and_ranges(one_torch_thread):
    model = MultiTaskFaceModel(**KWARGS).eval()
    out = model(torch.randn(5, 3, 32, 32))
    assert out["logits"].shape == (5, 8)
    assert out["valence_arousal"].shape == (5, 2) and out["valence_arousal"].abs().max() <= 1
    assert out["action_units"].shape == (5, 12)
    with pytest.raises(UserError, match="not divisible by 3 heads"):
        MultiTaskFaceModel(backbone="tiny_cnn_test", num_heads=3)


def test_ensemble_averaging_is_exact(tmp_path, one_torch_thread):
    paths, models = zip(*(save_multitask(tmp_path, seed) for seed in (1, 2, 3)), strict=True)
    ensemble, card = build_ensemble(list(paths))
    x = torch.randn(6, 3, 32, 32)
    with torch.no_grad():
        outs = [m(x) for m in models]
        mean = ensemble.average(x)
        out = ensemble(x)
    probs = sum(o["logits"].softmax(1) for o in outs) / 3
    va = sum(o["valence_arousal"] for o in outs) / 3
    aus = sum(torch.sigmoid(o["action_units"]) for o in outs) / 3
    torch.testing.assert_close(mean["probabilities"], probs, rtol=0, atol=1e-7)
    torch.testing.assert_close(mean["valence_arousal"], va, rtol=0, atol=1e-7)
    torch.testing.assert_close(mean["action_unit_probabilities"], aus, rtol=0, atol=1e-7)
    # the logits consumers see turn back into exactly these averages
    torch.testing.assert_close(out["logits"].softmax(1), probs, rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.sigmoid(out["action_units"]), aus, rtol=0, atol=1e-6)
    assert card.architecture == "ensemble" and len(card.extra["members"]) == 3
    assert card.outputs == list(OUTPUTS) and card.extra["au_labels"][0] == "AU1"


def test_ensemble_file_round_trip(tmp_path, one_torch_thread):
    paths = [save_multitask(tmp_path, seed)[0] for seed in (4, 5)]
    path = save_ensemble(paths, tmp_path / "ens" / "pair.safetensors", command="emoscope x")
    loaded, card = load_model(path)
    assert isinstance(loaded, EnsembleModel) and len(loaded.members) == 2
    assert card.name == "pair" and card.command == "emoscope x"
    stored = json.loads(path.with_suffix(".json").read_text())
    assert [m["name"] for m in stored["extra"]["members"]] == ["mt4", "mt5"]
    fresh, _ = build_ensemble(paths)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["logits"], fresh(x)["logits"])


def test_members_must_share_labels(tmp_path, tiny_model_path):
    path, _ = save_multitask(tmp_path, 7)
    with pytest.raises(UserError, match=r"tiny\.safetensors: its label space differs"):
        build_ensemble([path, tiny_model_path])
    with pytest.raises(UserError, match="at least one member"):
        build_ensemble([])


def test_members_of_different_input_sizes_see_their_own_size(tmp_path, one_torch_thread):
    (small, small_model), (large, large_model) = (
        save_multitask(tmp_path, 8, name="s", size=24), save_multitask(tmp_path, 9, size=32))
    ensemble, card = build_ensemble([small, large])
    assert card.preprocessing.input_size == (3, 32, 32)  # the largest member's
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        shrunk = F.interpolate(x, size=(24, 24), mode="bicubic", antialias=True)
        probs = (small_model(shrunk)["logits"].softmax(1)
                 + large_model(x)["logits"].softmax(1)) / 2
        torch.testing.assert_close(ensemble.average(x)["probabilities"], probs,
                                   rtol=0, atol=1e-7)
    path = save_ensemble([small, large], tmp_path / "mixed.safetensors")
    assert load_model(path)[1].preprocessing.input_size == (3, 32, 32)
