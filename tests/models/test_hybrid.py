"""The seed's ResNet + transformer hybrid, built small (timm's test_resnet, 64x64 input)."""

from __future__ import annotations

import pytest
import torch

from emoscope.errors import UserError
from emoscope.models.backbones import backbone_preprocessing
from emoscope.models.hybrid import ResNetTransformer
from emoscope.registry import MODELS
from emoscope.training.freezing import freeze_early_stages

SMALL = {"embed_dim": 32, "depth": 2, "num_heads": 4, "mlp_dim": 64, "grid_size": 2,
         "head_hidden": 16}


def test_registered_and_shapes():
    torch.manual_seed(0)
    model = MODELS.build("resnet_transformer", backbone="test_resnet", num_classes=7,
                         pretrained="none", dropout=0.1, **SMALL).eval()
    out = model(torch.randn(3, 3, 64, 64))
    assert set(out) == {"logits"} and out["logits"].shape == (3, 7)
    assert model.pos_embed.shape == (1, 1 + 2 * 2, 32)
    assert model.features(torch.randn(1, 3, 64, 64)).shape == (1, 32)
    # another input size interpolates the positional embedding (4x4 grid at 128)
    assert model(torch.randn(1, 3, 128, 128))["logits"].shape == (1, 7)
    assert backbone_preprocessing(model.backbone, 64).input_size == (3, 64, 64)


def test_seed_defaults():
    layer_kwargs = ResNetTransformer.__init__.__defaults__
    assert layer_kwargs[:9] == ("resnet50", 7, "none", 0.1, 3, 512, 4, 8, 2048)
    model = ResNetTransformer(backbone="test_resnet", num_classes=7)
    layer = model.encoder.layers[0]
    assert len(model.encoder.layers) == 4 and layer.norm_first
    assert layer.self_attn.num_heads == 8 and layer.linear1.out_features == 2048
    assert model.project.out_channels == 512 and model.pos_embed.shape[1] == 1 + 49


def test_trains_end_to_end_and_freezes_resnet_stages():
    torch.manual_seed(0)
    model = ResNetTransformer(backbone="test_resnet", num_classes=3, **SMALL)
    frozen = freeze_early_stages(model.backbone, 1)
    assert frozen > 0 and not any(p.requires_grad for p in model.backbone.layer1.parameters())
    x, y = torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 0])
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    loss = torch.nn.functional.cross_entropy(model(x)["logits"], y)
    loss.backward()
    assert model.cls_token.grad is not None and model.project.weight.grad is not None
    optimiser.step()


def test_bad_dimensions_are_user_errors():
    with pytest.raises(UserError, match="not divisible"):
        ResNetTransformer(backbone="test_resnet", embed_dim=30, num_heads=4)
