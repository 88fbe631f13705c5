"""Hostile or careless model cards: bounds on what a card may ask for, labels against the
architecture, unknown arguments, and checkpoints that are not weights: each one line."""

from __future__ import annotations

import json
import os

import pytest
import torch

from emoscope.errors import UserError
from emoscope.labels import FER2013_LABELS
from emoscope.models.backbones import backbone_preprocessing
from emoscope.models.classifier import ImageClassifier
from emoscope.models.files.checkpoint import (
    MAX_INPUT_SIDE,
    ModelCard,
    load_model,
    load_training_checkpoint,
    read_card,
    save_model,
)
from emoscope.models.files.zoo import resolve_model_path

KWARGS = {"backbone": "tiny_cnn_test", "num_classes": 7, "dropout": 0.0}


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = ImageClassifier(**KWARGS).eval()
    card = ModelCard(name="tiny", architecture="timm_classifier", architecture_kwargs=KWARGS,
                     label_space=FER2013_LABELS,
                     preprocessing=backbone_preprocessing(model.backbone, 32))
    save_model(model, card, tmp_path / "m")
    return tmp_path / "m.json"


def _edit(card_path, change) -> None:
    data = json.loads(card_path.read_text())
    change(data)
    card_path.write_text(json.dumps(data))


def _one_line_error(card_path, match: str) -> str:
    with pytest.raises(UserError, match=match) as err:
        load_model(card_path)
    message = str(err.value)
    assert "\n" not in message and str(card_path) in message
    return message


@pytest.mark.parametrize("size", [[3, 40000, 40000], [3, 2049, 8], [3, 1024, 1024],
                                  [64, 32, 32], [3, 0, 32], [3, 32], [3, 32.5, 32],
                                  ["3", 32, 32]])
def test_input_size_beyond_bounds_is_refused_before_anything_is_built(saved, size, monkeypatch):
    _edit(saved, lambda d: d["preprocessing"].__setitem__("input_size", size))

    def no_build(*_args, **_kwargs):
        raise AssertionError("the network was built from a card that should be refused")

    monkeypatch.setattr("emoscope.models.files.checkpoint.build_from_card", no_build)
    message = _one_line_error(saved, "preprocessing.input_size")
    assert str(size).replace("'", "") in message.replace("'", "")


def test_bounds_admit_the_shipped_and_speech_shapes(saved):
    _edit(saved, lambda d: d["preprocessing"].update(input_size=[1, 64, MAX_INPUT_SIDE],
                                                     mean=[0.0], std=[1.0]))
    assert read_card(saved).preprocessing.input_size == (1, 64, MAX_INPUT_SIDE)


@pytest.mark.parametrize(("key", "value"), [("mean", [0.5, 0.5]), ("std", [0.5, 0.0, 0.5]),
                                            ("std", ["x", 1, 1]), ("mean", [float("nan")])])
def test_normalisation_must_fit_the_channels(saved, key, value):
    _edit(saved, lambda d: d["preprocessing"].__setitem__(key, value))
    _one_line_error(saved, f"preprocessing.{key}")


@pytest.mark.parametrize(("key", "value"), [("sample_rate", 10**9), ("n_fft", 0),
                                            ("hop_length", "160")])
def test_speech_front_end_beyond_bounds_is_refused(saved, key, value):
    audio = {"sample_rate": 16000, "n_mels": 64, "n_fft": 400, "hop_length": 160}
    audio[key] = value
    _edit(saved, lambda d: d["extra"].__setitem__("audio", audio))
    _one_line_error(saved, f"extra.audio.{key}")


def test_labels_that_do_not_match_the_classes_are_one_line(saved):
    _edit(saved, lambda d: d["label_space"].__setitem__("labels", ["a", "b", "c"]))
    message = _one_line_error(saved, "3 labels")
    assert "num_classes=7" in message


def test_unknown_architecture_argument_is_one_line(saved):
    _edit(saved, lambda d: d["architecture"]["kwargs"].__setitem__("bogus", 1))
    message = _one_line_error(saved, "takes no argument 'bogus'")
    assert "timm_classifier" in message


def test_refused_argument_values_are_one_line(saved):
    _edit(saved, lambda d: d["architecture"]["kwargs"].__setitem__("dropout", "lots"))
    _one_line_error(saved, "cannot be built from the card's arguments")


def test_pickle_refusal_names_the_import_in_whole_words(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.getcwd, ())

    torch.save({"x": Payload()}, tmp_path / "evil.ckpt")
    with pytest.raises(UserError) as err:
        load_training_checkpoint(tmp_path / "evil.ckpt")
    message = str(err.value)
    assert "\n" not in message
    assert "it would import 'posix.getcwd'" in message or "'nt.getcwd'" in message
    assert message.endswith("loaded)")  # the sentence is whole, not cut mid-word


@pytest.mark.parametrize("content", [b"hello", b"", b"PK\x03\x04" + bytes(200)])
def test_truncated_or_foreign_checkpoint_bytes_are_one_line(tmp_path, saved, content):
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": {}, "emoscope_card": read_card(saved).to_dict()}, good)
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(content or good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(UserError, match="not a loadable weights-only checkpoint") as err:
        load_training_checkpoint(bad)
    message = str(err.value)
    assert "\n" not in message and "PyTorch 2.6" not in message
    assert "truncated or damaged" in message or "not a torch checkpoint file" in message


def test_missing_weights_path_says_not_found(tmp_path):
    with pytest.raises(UserError, match=r"nosuch\.safetensors: model file not found"):
        resolve_model_path(tmp_path / "nosuch.safetensors")
    with pytest.raises(UserError, match=r"nosuch\.json: model file not found"):
        resolve_model_path(tmp_path / "nosuch.json")


def test_card_asking_for_larger_tensors_than_its_weights_fails_before_allocation(saved,
                                                                                 monkeypatch):
    """in_chans 100000 would make a 100000-channel stem: the card's network is built on the
    meta device and compared with the weights' header; nothing is built in memory."""
    import emoscope.models.files.checkpoint as checkpoint

    _edit(saved, lambda d: d["architecture"]["kwargs"].__setitem__("in_chans", 100_000))
    built_on = []
    original = checkpoint.build_from_card

    def recording(*args, **kwargs):
        built_on.append(torch.empty(0).device.type)
        return original(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "build_from_card", recording)
    with pytest.raises(UserError, match="1 tensors of another shape") as err:
        load_model(saved)
    assert str(err.value).startswith(str(saved.with_suffix(".safetensors")))
    assert "cpu" not in built_on  # built on the meta device only


def test_int8_weights_pass_the_header_check(tmp_path):
    torch.manual_seed(0)
    kwargs = {"backbone": "mobilenetv3_small_100", "num_classes": 7}
    model = ImageClassifier(**kwargs).eval()
    card = ModelCard(name="q", architecture="timm_classifier", architecture_kwargs=kwargs,
                     label_space=FER2013_LABELS,
                     preprocessing=backbone_preprocessing(model.backbone, 64))
    save_model(model, card, tmp_path / "q", precision="int8")
    loaded, _ = load_model(tmp_path / "q.json")
    assert sum(p.numel() for p in loaded.parameters()) == sum(
        p.numel() for p in model.parameters())


@pytest.mark.parametrize(("where", "value", "message"), [
    (("preprocessing", "interpolation"), ["a", "b"], "preprocessing.interpolation must be text"),
    (("extra", "native_resolution"), "x", "extra.native_resolution must be a whole number"),
    (("extra", "native_resolution"), 10**9, "extra.native_resolution must be a whole number"),
    (("label_space", "labels"), [1, 2, 3, 4, 5, 6, 7], "label_space.labels must be a list"),
    (("outputs",), [], "outputs must be a list of names"),
    (("name",), ["tiny"], "name must be text"),
])
def test_fields_of_the_wrong_type_are_one_line(saved, where, value, message):
    """Found by the fuzz test: each of these reached the predictor and raised there."""
    def change(data):
        node = data
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = value

    _edit(saved, change)
    _one_line_error(saved, message)


def test_architecture_argument_of_the_wrong_type_is_one_line(saved):
    _edit(saved, lambda d: d["architecture"]["kwargs"].__setitem__("backbone", ["a", "b"]))
    _one_line_error(saved, "cannot be built from the card's arguments")


class _WithOwnTable(torch.nn.Module):
    """A network with a buffer outside its state dict (as a mel filterbank can be)."""

    def __init__(self, num_classes: int = 7, pretrained: str = "none"):
        super().__init__()
        self.head = torch.nn.Linear(4, num_classes)
        self.register_buffer("table", torch.arange(4.0), persistent=False)

    def forward(self, x):
        return {"logits": self.head(self.table.expand(x.shape[0], 4))}


def test_a_network_with_tensors_of_its_own_is_built_in_memory(tmp_path):
    from emoscope.models.backbones import Preprocessing
    from emoscope.registry import MODELS

    if "own_table_test" not in MODELS:
        MODELS.register("own_table_test")(_WithOwnTable)
    torch.manual_seed(0)
    model = _WithOwnTable().eval()
    card = ModelCard(name="t", architecture="own_table_test",
                     architecture_kwargs={"num_classes": 7}, label_space=FER2013_LABELS,
                     preprocessing=Preprocessing((3, 8, 8), (0.5,), (0.5,)))
    save_model(model, card, tmp_path / "t")
    loaded, _ = load_model(tmp_path / "t.json")
    assert torch.equal(loaded.table, torch.arange(4.0))
    x = torch.zeros(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["logits"], model(x)["logits"])
