"""Weight soups: the mean of the weights, exact batch-norm re-estimation, files and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import tiny_components  # noqa: F401  (registers the tiny_cnn_test backbone)
from cli_runner import run_cli
from emoscope.errors import UserError
from emoscope.labels import FER2013_LABELS, RAVDESS_LABELS
from emoscope.models.backbones import Preprocessing
from emoscope.models.classifier import ImageClassifier
from emoscope.models.files.checkpoint import ModelCard, load_model, save_model
from emoscope.models.model_inputs import model_input_batches
from emoscope.models.soup import average_weights, recalibrate_batchnorm, save_soup
from synthetic_faces import write_fer2013_folders

KWARGS = {"backbone": "tiny_cnn_test", "num_classes": 7, "dropout": 0.3}


def _card(name: str, labels=FER2013_LABELS, kwargs=KWARGS) -> ModelCard:
    return ModelCard(name=name, architecture="timm_classifier", architecture_kwargs=kwargs,
                     label_space=labels, grayscale=True, scores={"accuracy": 0.5},
                     preprocessing=Preprocessing((3, 32, 32), (0.5,) * 3, (0.5,) * 3))


def _save(folder: Path, seed: int, labels=FER2013_LABELS, kwargs=KWARGS) -> Path:
    torch.manual_seed(seed)
    model = ImageClassifier(**kwargs).eval()
    with torch.no_grad():  # distinct, non-trivial statistics per model
        model.backbone.bn1.running_mean.normal_()
        model.backbone.bn1.running_var.uniform_(0.5, 2.0)
        model.backbone.bn1.num_batches_tracked.fill_(seed)
    return save_model(model, _card(f"m{seed}", labels, kwargs), folder / f"m{seed}")


def test_soup_is_the_mean_of_the_weights(tmp_path, one_torch_thread):
    paths = [_save(tmp_path, seed) for seed in (1, 2, 3)]
    states = [load_model(p)[0].state_dict() for p in paths]
    soup, card = average_weights(paths, name="three")
    for key, value in soup.state_dict().items():
        if value.is_floating_point():
            expected = (states[0][key] + states[1][key] + states[2][key]) / 3
            torch.testing.assert_close(value, expected, rtol=0, atol=1e-7)
    assert int(soup.state_dict()["backbone.bn1.num_batches_tracked"]) == 1  # the first's
    assert not soup.training
    assert card.name == "three" and card.scores == {}  # no member's score is the soup's
    assert [m["name"] for m in card.extra["soup_members"]] == ["m1", "m2", "m3"]
    assert json.loads(card.recipe)["soup"] == [str(p) for p in paths]


def test_soup_of_one_model_twice_predicts_like_it(tmp_path, one_torch_thread):
    path = _save(tmp_path, 4)
    model, _ = load_model(path)
    soup, _ = average_weights([path, path])
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(soup(x)["logits"], model(x)["logits"], rtol=0, atol=1e-6)


def test_soup_refuses_what_cannot_be_averaged(tmp_path, one_torch_thread):
    first = _save(tmp_path, 1)
    with pytest.raises(UserError, match="at least two models"):
        average_weights([first])
    other_labels = _save(tmp_path / "labels", 2, labels=RAVDESS_LABELS,
                         kwargs={**KWARGS, "num_classes": 8})
    with pytest.raises(UserError, match=r"m2\.safetensors: its architecture differs"):
        average_weights([first, other_labels])
    relabelled = _save(tmp_path / "relabelled", 3)
    card_path = relabelled.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["label_space"]["labels"] = list(reversed(card["label_space"]["labels"]))
    card_path.write_text(json.dumps(card))
    with pytest.raises(UserError, match="its label space differs"):
        average_weights([first, relabelled])


def test_batchnorm_statistics_are_re_estimated_exactly(tmp_path, one_torch_thread):
    model, card = load_model(_save(tmp_path, 5))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 32, 32), dtype=np.uint8)
    momentum = model.backbone.bn1.momentum
    assert recalibrate_batchnorm(model, card, images, batch_size=32) == 2
    with torch.no_grad():
        batches = [model.backbone.conv_stem(x) for x in model_input_batches(card, images, 32)]
    features = torch.cat(batches)
    bn = model.backbone.bn1
    # equal batches: the cumulative average of batch means is the mean over all images
    torch.testing.assert_close(bn.running_mean, features.mean(dim=(0, 2, 3)),
                               rtol=0, atol=1e-5)
    per_batch_var = torch.stack([b.var(dim=(0, 2, 3), unbiased=True) for b in batches])
    torch.testing.assert_close(bn.running_var, per_batch_var.mean(0), rtol=1e-5, atol=1e-6)
    assert bn.momentum == momentum and not model.training
    assert not any(m.training for m in model.modules())  # dropout too is back in eval


def test_save_soup_round_trip(tmp_path, one_torch_thread):
    paths = [_save(tmp_path, seed) for seed in (6, 7)]
    images = np.random.default_rng(1).integers(0, 256, (16, 32, 32), dtype=np.uint8)
    out = save_soup(paths, tmp_path / "soups" / "pair.safetensors", command="emoscope soup x",
                    bn_images=images, bn_source="fixture")
    loaded, card = load_model(out)
    assert card.name == "pair" and card.command == "emoscope soup x"
    assert card.extra["soup_batchnorm"] == "2 batch-norm layers re-estimated on 16 faces of fixture"
    fresh, fresh_card = average_weights(paths)
    recalibrate_batchnorm(fresh, fresh_card, images)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["logits"], fresh(x)["logits"])


def test_soup_cli_writes_the_model_and_reports_bad_roots(monkeypatch, capsys, tmp_path,
                                                         one_torch_thread):
    paths = [_save(tmp_path, seed) for seed in (8, 9)]
    fer = write_fer2013_folders(tmp_path / "fer2013", train_per_class=2, test_per_class=1)
    out = tmp_path / "soup.safetensors"
    code, stdout, err = run_cli(monkeypatch, capsys, "soup", *paths, "-o", out,
                                "--bn-root", fer.root, "--bn-images", 5)
    assert code == 0, err
    assert "soup of 2, batch norm re-estimated on 5 faces" in stdout
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["extra"]["soup_batchnorm"].startswith("2 batch-norm layers re-estimated on 5 faces")
    assert card["command"].startswith("emoscope soup")
    code, _, err = run_cli(monkeypatch, capsys, "soup", *paths, "-o", tmp_path / "x",
                           "--bn-root", tmp_path / "nowhere")
    assert code != 0 and "nowhere: dataset root not found" in err
    assert "Traceback" not in err and not (tmp_path / "x.safetensors").exists()
