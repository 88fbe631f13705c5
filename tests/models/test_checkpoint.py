"""safetensors + card round trip, strict key checks, foreign files as one-line errors, and
Lightning .ckpt files read with weights_only=True."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from emoscope.errors import UserError
from emoscope.labels import FER2013_LABELS
from emoscope.models.backbones import backbone_preprocessing
from emoscope.models.classifier import ImageClassifier
from emoscope.models.files.checkpoint import (
    ModelCard,
    load_model,
    load_training_checkpoint,
    read_card,
    save_model,
)
from emoscope.models.files.zoo import resolve_model_path

KWARGS = {"backbone": "tiny_cnn_test", "num_classes": 7, "dropout": 0.0}


def _model_and_card() -> tuple[ImageClassifier, ModelCard]:
    torch.manual_seed(0)
    model = ImageClassifier(**KWARGS).eval()
    card = ModelCard(
        name="tiny", architecture="timm_classifier", architecture_kwargs=KWARGS,
        label_space=FER2013_LABELS, preprocessing=backbone_preprocessing(model.backbone, 32),
        grayscale=True, scores={"val/accuracy": 0.5},
    )
    return model, card


def _assert_one_line(err: pytest.ExceptionInfo) -> None:
    assert "\n" not in str(err.value)


def test_round_trip_gives_identical_outputs_and_card(tmp_path):
    model, card = _model_and_card()
    weights = save_model(model, card, tmp_path / "tiny")
    assert weights == tmp_path / "tiny.safetensors" and (tmp_path / "tiny.json").is_file()
    loaded, loaded_card = load_model(tmp_path / "tiny.json")
    assert loaded_card.to_dict() == card.to_dict()
    assert not loaded.training
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["logits"], model(x)["logits"])
    assert resolve_model_path(weights) == weights


def test_strict_keys_extra_missing_and_shape(tmp_path):
    model, card = _model_and_card()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    save_model(model, card, tmp_path / "m")
    save_file({**state, "extra.weight": torch.zeros(1)}, str(tmp_path / "m.safetensors"))
    with pytest.raises(UserError, match="1 unexpected keys") as err:
        load_model(tmp_path / "m.safetensors")
    _assert_one_line(err)
    state.pop("head.1.bias")
    save_file(state, str(tmp_path / "m.safetensors"))
    with pytest.raises(UserError, match="1 missing"):
        load_model(tmp_path / "m.safetensors")
    state["head.1.bias"] = torch.zeros(8)
    save_file(state, str(tmp_path / "m.safetensors"))
    with pytest.raises(UserError, match="another shape, e.g. 'head.1.bias'"):
        load_model(tmp_path / "m.safetensors")


def test_files_from_elsewhere_are_one_line_errors(tmp_path):
    model, card = _model_and_card()
    save_model(model, card, tmp_path / "m")
    # weights of another network under our card
    save_file({"fc.weight": torch.zeros(2, 2)}, str(tmp_path / "m.safetensors"))
    with pytest.raises(UserError, match="do not fit architecture 'timm_classifier'") as err:
        load_model(tmp_path / "m.safetensors")
    _assert_one_line(err)
    (tmp_path / "m.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(UserError, match="not a readable safetensors file"):
        load_model(tmp_path / "m.safetensors")
    (tmp_path / "m.json").write_text(json.dumps({"format": "keras", "name": "x"}))
    with pytest.raises(UserError, match="not an emoscope model card"):
        read_card(tmp_path / "m.json")
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_model(tmp_path / "m.json")
    with pytest.raises(UserError, match="other.safetensors: model file not found"):
        resolve_model_path(tmp_path / "other.safetensors")
    (tmp_path / "other.safetensors").write_bytes(b"")
    with pytest.raises(UserError, match="no model card"):
        resolve_model_path(tmp_path / "other.safetensors")
    with pytest.raises(UserError, match="unknown model 'no-such-model'"):
        resolve_model_path("no-such-model")


def test_training_checkpoint_is_read_weights_only(tmp_path):
    model, card = _model_and_card()
    state = {f"network.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 3, "state_dict": state, "emoscope_card": card.to_dict()},
               tmp_path / "ok.ckpt")
    loaded, loaded_card = load_model(tmp_path / "ok.ckpt")
    assert loaded_card.name == "tiny"
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["logits"], model(x)["logits"])
    assert resolve_model_path(tmp_path / "ok.ckpt") == tmp_path / "ok.ckpt"


def test_foreign_and_unsafe_checkpoints_are_refused(tmp_path):
    torch.save({"state_dict": {"w": torch.zeros(1)}}, tmp_path / "foreign.ckpt")
    with pytest.raises(UserError, match="not an emoscope training checkpoint") as err:
        load_training_checkpoint(tmp_path / "foreign.ckpt")
    _assert_one_line(err)
    # a pickled module needs code execution: weights_only loading refuses it
    torch.save({"model": torch.nn.Linear(2, 2)}, tmp_path / "pickled.ckpt")
    with pytest.raises(UserError, match="not a loadable weights-only checkpoint") as err:
        load_model(tmp_path / "pickled.ckpt")
    _assert_one_line(err)
    with pytest.raises(UserError, match="checkpoint not found"):
        load_model(tmp_path / "missing.ckpt")
