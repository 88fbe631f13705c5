"""The context/body/face model: forward/backward, masks, ablations, presets, model cards."""

from __future__ import annotations

import pytest
import torch

from emoscope.errors import UserError
from emoscope.models.files.checkpoint import load_model, save_model
from emoscope.models.multistream import (
    REFERENCE_LOSS,
    MultiStreamModel,
    multistream_card,
    stream_preprocessing,
)
from emoscope.models.streams import ABLATIONS, STREAMS, parse_ablation, resolve_backbone
from emoscope.registry import HEADS, LOSSES, MODELS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = "tiny_cnn_test"  # tests/tiny_components.py: 2 conv stages, 256 features


def _tiny(**kwargs) -> MultiStreamModel:
    torch.manual_seed(0)
    defaults = {"context": TINY, "body": TINY, "face": TINY, "fusion": "weighted",
                "fusion_dim": 32, "head_kwargs": {"dropout": 0.0}}
    return MultiStreamModel(**{**defaults, **kwargs})


def _batch(n: int = 4, size: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    batch = {s: torch.randn(n, 3, size, size, generator=gen) for s in STREAMS}
    batch["stream_mask"] = torch.ones(n, 3)
    return batch


@pytest.mark.parametrize("fusion", ["weighted", "cross_modal_transformer", "hierarchical"])
def test_forward_shapes_and_every_backbone_learns(fusion):
    model = _tiny(fusion=fusion).train()
    out = model(_batch())
    assert out["categories"].shape == (4, 26) and out["vad"].shape == (4, 3)
    (out["categories"].sum() + out["vad"].sum()).backward()
    for stream in STREAMS:
        grads = [p.grad for p in model.backbones[stream].parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), stream


def test_masked_face_changes_nothing_even_in_training_mode():
    model = _tiny().train()
    batch = _batch(6)
    batch["stream_mask"][[1, 4], 2] = 0  # two persons without a visible face
    out = model(batch)
    batch["face"][[1, 4]] = torch.rand(2, 3, 32, 32) * 100  # BatchNorm never sees them
    again = model(batch)
    torch.testing.assert_close(out["categories"], again["categories"], rtol=0, atol=0)
    feats = model.features(batch)
    assert feats["face"][[1, 4]].abs().sum() == 0


def test_features_then_forward_features_equals_forward():
    model = _tiny(fusion="attention").eval()
    batch = _batch()
    batch["stream_mask"][0, 0] = 0
    with torch.no_grad():
        direct = model(batch)
        cached = model.forward_features(model.features(batch), batch["stream_mask"])
    torch.testing.assert_close(direct["categories"], cached["categories"])
    torch.testing.assert_close(direct["vad"], cached["vad"])


@pytest.mark.parametrize("ablation", ABLATIONS)
def test_ablations(ablation):
    model = _tiny(ablation=ablation, fusion="hierarchical").eval()
    expected = STREAMS if ablation == "all" else tuple(s for s in STREAMS if s in ablation)
    assert model.streams == expected
    batch = _batch(3)
    for stream in set(STREAMS) - set(expected):
        del batch[stream]  # a switched-off stream needs no images
    batch["stream_mask"][0] = 0  # (N, 3) mask in canonical order is narrowed to the streams
    with torch.no_grad():
        assert model(batch)["categories"].shape == (3, 26)


def test_ablation_parsing_and_errors():
    assert parse_ablation("body+context") == ("context", "body")
    assert parse_ablation("FACE") == ("face",)
    with pytest.raises(UserError, match="known: all, context"):
        parse_ablation("context_hands")
    with pytest.raises(UserError, match="needs a backbone"):
        MultiStreamModel(context=TINY, body=TINY, face=None, ablation="face")
    model = _tiny(face=None)  # "all" = every configured stream
    assert model.streams == ("context", "body")
    with pytest.raises(UserError, match="lacks images"):
        model({"context": torch.zeros(2, 3, 32, 32)})


def test_study_aliases_and_per_stream_preprocessing():
    assert resolve_backbone("swin") == "swin_tiny_patch4_window7_224"
    assert resolve_backbone("mobilenetv3") == "mobilenetv3_large_100"
    assert resolve_backbone("deit") == "deit_small_patch16_224"
    assert resolve_backbone("efficientnetv2_s") == "tf_efficientnetv2_s"
    assert resolve_backbone("convnext_tiny") == "convnext_tiny"  # any timm name passes
    model = MultiStreamModel(context="efficientnetv2_s", body="resnet18", face="mobilenetv3",
                             fusion_dim=16, image_sizes={"body": 128})
    prep = model.preprocessing
    assert prep["context"].mean == (0.5, 0.5, 0.5) and prep["context"].input_size == (3, 300, 300)
    assert prep["body"].mean == pytest.approx((0.485, 0.456, 0.406))
    assert prep["body"].input_size == (3, 128, 128)
    assert prep["face"].input_size == (3, 224, 224)
    assert model.backbone_names["face"] == "mobilenetv3_large_100"


def test_emotic_reference_preset():
    model = MODELS.build("emotic_reference").eval()
    assert model.streams == ("context", "body")
    assert model.backbone_names == {"context": "resnet18", "body": "resnet18"}
    assert model.preprocessing["body"].input_size == (3, 128, 128)
    assert model.fusion.linear.out_features == 256  # fc of the reference
    block = [type(m).__name__ for m in model.heads.block]
    assert block == ["BatchNorm1d", "ReLU", "Dropout"]
    with torch.no_grad():
        out = model({"context": torch.randn(2, 3, 32, 32), "body": torch.randn(2, 3, 32, 32)})
    assert out["categories"].shape == (2, 26) and out["vad"].shape == (2, 3)
    loss = LOSSES.build("combined", **REFERENCE_LOSS)
    assert type(loss.categorical).__name__ == "DiscreteLoss"
    assert loss(out, {"categories": torch.zeros(2, 26), "vad": torch.ones(2, 3)})["loss"] > 0
    heads = HEADS.build("emotic_reference", in_dim=1024)
    assert [type(m).__name__ for m in heads.block] == ["Linear", "BatchNorm1d", "ReLU",
                                                       "Dropout"]


def test_single_heads():
    model = _tiny(heads="multilabel", head_kwargs={"num_classes": 5})
    assert set(model(_batch())) == {"categories"}
    only_vad = _tiny(heads="emotion", head_kwargs={"num_categories": 0, "vad_activation": "tanh"})
    out = only_vad(_batch())
    assert set(out) == {"vad"} and out["vad"].abs().max() <= 1


def test_card_round_trip(tmp_path):
    model = _tiny(fusion="hierarchical", ablation="body_face",
                  fusion_kwargs={"hidden_dim": 16}, image_sizes={"face": 32}).eval()
    card = multistream_card(model, "tiny-emotic", data="generated", scores={"mAP": 0.1})
    path = save_model(model, card, tmp_path / "tiny_emotic")
    loaded, loaded_card = load_model(path)
    assert loaded_card.architecture == "multistream"
    assert loaded_card.outputs == ["categories", "vad"]
    assert loaded_card.label_space.num_classes == 26
    assert stream_preprocessing(loaded_card)["face"].input_size == (3, 32, 32)
    batch = _batch()
    batch["stream_mask"][1, 2] = 0
    with torch.no_grad():
        expected, got = model(batch), loaded(batch)
    torch.testing.assert_close(expected["categories"], got["categories"])
    torch.testing.assert_close(expected["vad"], got["vad"])
