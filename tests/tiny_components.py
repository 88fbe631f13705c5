"""Test-only components registered like any plug-in: a tiny CNN backbone and a model whose
predictions are known exactly (it reads the class bar of ``synthetic_faces``)."""

from __future__ import annotations

import torch
from torch import nn

from emoscope.registry import BACKBONES, MODELS
from synthetic_faces import BAND_HEIGHT, BAND_START, BAND_STEP


class TinyCNN(nn.Module):
    """Two strided conv stages, then a 4x4 pooled map flattened (position survives)."""

    def __init__(self, in_chans: int = 3, width: int = 8):
        super().__init__()
        self.conv_stem = nn.Conv2d(in_chans, width, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.blocks = nn.Sequential(
            nn.Sequential(nn.ReLU(), nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
                          nn.BatchNorm2d(2 * width), nn.ReLU()),
            nn.Sequential(nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU()),
        )
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.num_features = 2 * width * 16
        self.pretrained_cfg = {"input_size": (3, 32, 32), "mean": (0.5, 0.5, 0.5),
                               "std": (0.5, 0.5, 0.5), "interpolation": "bilinear"}

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.bn1(self.conv_stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.forward_features(x)).flatten(1)


@BACKBONES.register("tiny_cnn_test")
def tiny_cnn(pretrained: str = "none", in_chans: int = 3) -> nn.Module:
    return TinyCNN(in_chans)


@MODELS.register("bar_oracle_test")
class BarOracle(nn.Module):
    """Logits = mean brightness of each class band: always predicts the drawn pattern."""

    def __init__(self, num_classes: int = 7, image_size: int = 48, pretrained: str = "none",
                 **_: object):
        super().__init__()
        bands = torch.zeros(image_size, num_classes)
        scale = image_size / 48
        for cls in range(num_classes):
            top = int(round((BAND_START + BAND_STEP * cls) * scale))
            bands[top:top + max(1, int(round(BAND_HEIGHT * scale))), cls] = 1.0
        self.register_buffer("bands", bands / bands.sum(0, keepdim=True))
        self.backbone = nn.Identity()

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        profile = images.mean(dim=(1, 3))  # (N, H)
        return {"logits": 10 * profile @ self.bands}
