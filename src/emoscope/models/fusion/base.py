"""What every fusion shares: named streams of feature vectors, a 0/1 stream mask, one output.

A fusion is built with the feature width of each stream it will see (streams switched off by
ablation are simply not listed) and an output width. ``forward(features, mask)`` takes
``{stream name: (N, D_s)}`` and a mask (N, S) in the order of ``streams``; a masked entry
contributes nothing to the output, so the output is the same whatever the masked features hold
(NaN included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from emoscope.errors import UserError


def _stream_names(stream_dims: Sequence[int], streams: Sequence[str] | None) -> tuple[str, ...]:
    if streams is None:
        return tuple(f"stream{i}" for i in range(len(stream_dims)))
    if len(streams) != len(stream_dims):
        raise UserError(f"fusion: {len(streams)} stream names for {len(stream_dims)} widths")
    return tuple(streams)


class StreamFusion(nn.Module):
    """Base class: checks inputs, stacks present streams with masked entries zeroed."""

    def __init__(self, stream_dims: Sequence[int], out_dim: int,
                 streams: Sequence[str] | None = None):
        super().__init__()
        if not stream_dims:
            raise UserError("fusion: at least one stream is needed")
        self.stream_dims = tuple(int(d) for d in stream_dims)
        self.streams = _stream_names(self.stream_dims, streams)
        self.out_dim = int(out_dim)

    @property
    def num_streams(self) -> int:
        return len(self.streams)

    def masked_inputs(self, features: Mapping[str, torch.Tensor],
                      mask: torch.Tensor | None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Per-stream features with masked rows set to 0 (``where``, so NaN cannot leak) and
        the mask as a (N, S) float tensor."""
        missing = [name for name in self.streams if name not in features]
        if missing:
            raise UserError(f"fusion: no features for stream(s) {missing}; got {list(features)}")
        first = features[self.streams[0]]
        if mask is None:
            mask = torch.ones(first.shape[0], self.num_streams, device=first.device)
        if mask.shape != (first.shape[0], self.num_streams):
            raise UserError(f"fusion: mask of shape {tuple(mask.shape)}, expected "
                            f"({first.shape[0]}, {self.num_streams})")
        present = mask > 0.5
        zeroed = [
            torch.where(present[:, i:i + 1], features[name], torch.zeros((), dtype=first.dtype,
                                                                          device=first.device))
            for i, name in enumerate(self.streams)
        ]
        return zeroed, present.to(first.dtype)


def masked_softmax(scores: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Softmax over dim 1 among present entries; rows with nothing present get all zeros."""
    keep = present > 0.5
    filled = scores.masked_fill(~keep, float("-inf"))
    any_present = keep.any(dim=1, keepdim=True)
    filled = torch.where(any_present, filled, torch.zeros_like(filled))
    return torch.softmax(filled, dim=1) * keep.to(scores.dtype)


def masked_mean(stacked: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Mean over the present streams of (N, S, D); 0 where no stream is present."""
    weights = present.unsqueeze(-1)
    return (stacked * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def projections(stream_dims: Sequence[int], width: int, activation: bool = True) -> nn.ModuleList:
    """One ``Linear(D_s, width)`` (+ ReLU) per stream: the common space most fusions work in."""
    layers = []
    for dim in stream_dims:
        layer: nn.Module = nn.Linear(dim, width)
        if activation:
            layer = nn.Sequential(layer, nn.ReLU())
        layers.append(layer)
    return nn.ModuleList(layers)


def project_masked(layers: nn.ModuleList, inputs: Sequence[torch.Tensor],
                   present: torch.Tensor) -> torch.Tensor:
    """(N, S, width): each stream projected, then zeroed where masked (biases included)."""
    stacked = torch.stack([layer(x) for layer, x in zip(layers, inputs, strict=True)], dim=1)
    return stacked * present.unsqueeze(-1)
