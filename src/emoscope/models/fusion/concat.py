"""Fusions that concatenate the (masked) streams: simple, layer_norm, transformation, bottleneck.

A masked stream enters the concatenation as zeros, so its columns of the first linear layer
add nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from emoscope.models.fusion.base import StreamFusion, project_masked, projections
from emoscope.registry import FUSIONS


@FUSIONS.register("simple")
class SimpleFusion(StreamFusion):
    """Concatenate the streams, one linear layer to ``out_dim`` (the EMOTIC reference's fc)."""

    def __init__(self, stream_dims: Sequence[int], out_dim: int,
                 streams: Sequence[str] | None = None):
        super().__init__(stream_dims, out_dim, streams)
        self.linear = nn.Linear(sum(self.stream_dims), out_dim)

    def forward(self, features: Mapping[str, torch.Tensor],
                mask: torch.Tensor | None = None) -> torch.Tensor:
        inputs, _ = self.masked_inputs(features, mask)
        return self.linear(torch.cat(inputs, dim=1))


@FUSIONS.register("layer_norm")
class LayerNormFusion(StreamFusion):
    """LayerNorm each stream first (backbones differ wildly in feature scale), then as
    ``simple``; a masked stream's normalised features are zeroed after the norm."""

    def __init__(self, stream_dims: Sequence[int], out_dim: int,
                 streams: Sequence[str] | None = None, dropout: float = 0.0):
        super().__init__(stream_dims, out_dim, streams)
        self.norms = nn.ModuleList(nn.LayerNorm(d) for d in self.stream_dims)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(sum(self.stream_dims), out_dim)

    def forward(self, features: Mapping[str, torch.Tensor],
                mask: torch.Tensor | None = None) -> torch.Tensor:
        inputs, present = self.masked_inputs(features, mask)
        normed = [norm(x) * present[:, i:i + 1]
                  for i, (norm, x) in enumerate(zip(self.norms, inputs, strict=True))]
        return self.linear(self.dropout(torch.cat(normed, dim=1)))


@FUSIONS.register("transformation")
class TransformationFusion(StreamFusion):
    """Each stream through its own two-layer MLP into a shared ``hidden_dim`` space, then the
    transformed streams are concatenated and mapped to ``out_dim``."""

    def __init__(self, stream_dims: Sequence[int], out_dim: int,
                 streams: Sequence[str] | None = None, hidden_dim: int = 256,
                 dropout: float = 0.0):
        super().__init__(stream_dims, out_dim, streams)
        self.transforms = nn.ModuleList(
            nn.Sequential(nn.Linear(d, hidden_dim), nn.ReLU(), nn.Dropout(dropout),
                          nn.Linear(hidden_dim, hidden_dim), nn.ReLU())
            for d in self.stream_dims
        )
        self.linear = nn.Linear(hidden_dim * self.num_streams, out_dim)

    def forward(self, features: Mapping[str, torch.Tensor],
                mask: torch.Tensor | None = None) -> torch.Tensor:
        inputs, present = self.masked_inputs(features, mask)
        stacked = project_masked(self.transforms, inputs, present)
        return self.linear(stacked.flatten(1))


@FUSIONS.register("bottleneck")
class BottleneckFusion(StreamFusion):
    """Each stream projected, concatenated, squeezed through a narrow ``bottleneck_dim``
    layer (forcing a joint code) and expanded to ``out_dim``."""

    def __init__(self, stream_dims: Sequence[int], out_dim: int,
                 streams: Sequence[str] | None = None, hidden_dim: int = 256,
                 bottleneck_dim: int = 64, dropout: float = 0.0):
        super().__init__(stream_dims, out_dim, streams)
        self.project = projections(self.stream_dims, hidden_dim)
        self.squeeze = nn.Sequential(
            nn.Linear(hidden_dim * self.num_streams, bottleneck_dim), nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.expand = nn.Linear(bottleneck_dim, out_dim)

    def forward(self, features: Mapping[str, torch.Tensor],
                mask: torch.Tensor | None = None) -> torch.Tensor:
        inputs, present = self.masked_inputs(features, mask)
        stacked = project_masked(self.project, inputs, present)
        return self.expand(self.squeeze(stacked.flatten(1)))
