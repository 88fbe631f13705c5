"""Hierarchical fusion: the person streams first (face + body), then the person with context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from emoscope.models.fusion.base import StreamFusion, project_masked, projections
from emoscope.registry import FUSIONS

DEFAULT_GROUPS = (("face", "body"), ("context",))


def _group_indices(streams: Sequence[str],
                   groups: Sequence[Sequence[str]]) -> list[list[int]]:
    """Indices of ``streams`` per group, in group order; empty groups (ablated streams) are
    dropped and a stream in no group becomes a group of its own."""
    result = [[streams.index(name) for name in group if name in streams] for group in groups]
    grouped = {i for group in result for i in group}
    result += [[i] for i in range(len(streams)) if i not in grouped]
    return [group for group in result if group]


@FUSIONS.register("hierarchical")
class HierarchicalFusion(StreamFusion):
    """Level 1 fuses the streams of each group (default: face + body -> person, context
    alone) by a linear layer over their concatenated projections; level 2 fuses the group
    vectors. A group with no present stream is zeroed before level 2."""

    def __init__(self, stream_dims: Sequence[int], out_dim: int,
                 streams: Sequence[str] | None = None, hidden_dim: int = 256,
                 groups: Sequence[Sequence[str]] = DEFAULT_GROUPS, dropout: float = 0.0):
        super().__init__(stream_dims, out_dim, streams)
        self.groups = _group_indices(self.streams, groups)
        self.project = projections(self.stream_dims, hidden_dim)
        self.group_layers = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden_dim * len(g), hidden_dim), nn.ReLU(),
                          nn.Dropout(dropout))
            for g in self.groups
        )
        self.out = nn.Linear(hidden_dim * len(self.groups), out_dim)

    def forward(self, features: Mapping[str, torch.Tensor],
                mask: torch.Tensor | None = None) -> torch.Tensor:
        inputs, present = self.masked_inputs(features, mask)
        stacked = project_masked(self.project, inputs, present)
        fused = []
        for members, layer in zip(self.groups, self.group_layers, strict=True):
            group_present = present[:, members].amax(dim=1, keepdim=True)
            fused.append(layer(stacked[:, members].flatten(1)) * group_present)
        return self.out(torch.cat(fused, dim=1))
