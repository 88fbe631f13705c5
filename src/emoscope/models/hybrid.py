"""The seed study's hybrid: a CNN feature map read as tokens by a small transformer encoder.

ResNet-50 at 224x224 gives a 7x7x2048 map; a 1x1 convolution projects it to 512, a CLS token
and a learnable positional embedding are added, a 4-layer pre-norm encoder (8 heads, GELU,
FFN 2048) mixes the 49 tokens, and LayerNorm -> dropout -> MLP classifies the CLS token.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from emoscope.errors import UserError
from emoscope.models.backbones import PretrainedMode, build_backbone
from emoscope.registry import MODELS


@MODELS.register("resnet_transformer")
class ResNetTransformer(nn.Module):
    """Backbone feature map -> 1x1 projection -> CLS + positions -> encoder -> MLP head.

    Returns a dict with ``logits`` (N, num_classes). ``grid_size`` is the feature-map side the
    positional embedding is made for (7 for ResNet-50 at 224); other input sizes interpolate it.
    """

    def __init__(
        self,
        backbone: str = "resnet50",
        num_classes: int = 7,
        pretrained: PretrainedMode = "none",
        dropout: float = 0.1,
        in_chans: int = 3,
        embed_dim: int = 512,
        depth: int = 4,
        num_heads: int = 8,
        mlp_dim: int = 2048,
        grid_size: int = 7,
        head_hidden: int = 256,
        attention_dropout: float = 0.1,
    ):
        super().__init__()
        if embed_dim % num_heads:
            raise UserError(f"resnet_transformer: embed_dim {embed_dim} is not divisible by "
                            f"num_heads {num_heads}")
        self.backbone = build_backbone(backbone, pretrained=pretrained, in_chans=in_chans)
        if not hasattr(self.backbone, "forward_features"):
            raise UserError(f"resnet_transformer: backbone '{backbone}' has no feature map "
                            "(forward_features)")
        self.grid_size = grid_size
        self.project = nn.Conv2d(self.backbone.num_features, embed_dim, kernel_size=1)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid_size * grid_size, embed_dim))
        layer = nn.TransformerEncoderLayer(
            embed_dim, num_heads, dim_feedforward=mlp_dim, dropout=attention_dropout,
            activation="gelu", batch_first=True, norm_first=True,
        )
        # No final encoder norm: the head starts with its own LayerNorm.
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Sequential(
            nn.LayerNorm(embed_dim),
            nn.Dropout(dropout),
            nn.Linear(embed_dim, head_hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(head_hidden, num_classes),
        )
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def _positions(self, height: int, width: int) -> torch.Tensor:
        if height == width == self.grid_size:
            return self.pos_embed
        cls_pos, grid = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        side = int(math.sqrt(grid.shape[1]))
        grid = grid.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(height, width), mode="bicubic", align_corners=False)
        return torch.cat([cls_pos, grid.flatten(2).transpose(1, 2)], dim=1)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The encoded CLS token (N, embed_dim)."""
        fmap = self.project(self.backbone.forward_features(images))
        n, _, height, width = fmap.shape
        tokens = fmap.flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(n, -1, -1), tokens], dim=1)
        tokens = tokens + self._positions(height, width)
        return self.encoder(tokens)[:, 0]

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.head(self.features(images))}
