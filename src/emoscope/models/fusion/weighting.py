"""Fusions that weight the streams: weighted (learned per stream), attention (per sample),
gated_residual (per feature). Weights are renormalised over the streams present."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from emoscope.models.fusion.base import (
    StreamFusion,
    masked_mean,
    masked_softmax,
    project_masked,
    projections,
)
from emoscope.registry import FUSIONS


@FUSIONS.register("weighted")
class WeightedFusion(StreamFusion):
    """Learnable scalar per stream; softmax over the present streams weights the streams'
    projections to ``out_dim``. ``stream_weights()`` reports the learned weights."""

    def __init__(self, stream_dims: Sequence[int], out_dim: int,
                 streams: Sequence[str] | None = None):
        super().__init__(stream_dims, out_dim, streams)
        self.project = projections(self.stream_dims, out_dim, activation=False)
        self.logits = nn.Parameter(torch.zeros(self.num_streams))

    def stream_weights(self) -> dict[str, float]:
        weights = torch.softmax(self.logits.detach(), dim=0)
        return {name: float(w) for name, w in zip(self.streams, weights, strict=True)}

    def forward(self, features: Mapping[str, torch.Tensor],
                mask: torch.Tensor | None = None) -> torch.Tensor:
        inputs, present = self.masked_inputs(features, mask)
        stacked = project_masked(self.project, inputs, present)
        weights = masked_softmax(self.logits.expand_as(present), present)
        return (stacked * weights.unsqueeze(-1)).sum(1)


@FUSIONS.register("attention")
class AttentionFusion(StreamFusion):
    """Additive attention (Bahdanau-style score ``v·tanh(W h_s)``) over the projected streams,
    computed per sample; masked streams get weight 0."""

    def __init__(self, stream_dims: Sequence[int], out_dim: int,
                 streams: Sequence[str] | None = None, hidden_dim: int = 256,
                 attention_dim: int = 64, dropout: float = 0.0):
        super().__init__(stream_dims, out_dim, streams)
        self.project = projections(self.stream_dims, hidden_dim)
        self.score = nn.Sequential(nn.Linear(hidden_dim, attention_dim), nn.Tanh(),
                                   nn.Linear(attention_dim, 1, bias=False))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_dim, out_dim)

    def _weighted(self, features: Mapping[str, torch.Tensor],
                  mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, present = self.masked_inputs(features, mask)
        stacked = project_masked(self.project, inputs, present)
        return stacked, masked_softmax(self.score(stacked).squeeze(-1), present)

    def attention(self, features: Mapping[str, torch.Tensor],
                  mask: torch.Tensor | None = None) -> torch.Tensor:
        """(N, S) stream weights of each sample."""
        return self._weighted(features, mask)[1]

    def forward(self, features: Mapping[str, torch.Tensor],
                mask: torch.Tensor | None = None) -> torch.Tensor:
        stacked, weights = self._weighted(features, mask)
        return self.out(self.dropout((stacked * weights.unsqueeze(-1)).sum(1)))


@FUSIONS.register("gated_residual")
class GatedResidualFusion(StreamFusion):
    """Mean of the present projections plus a residual of sigmoid-gated streams, where each
    stream's gate sees all (masked) projections: ``LN(mean_s h_s + sum_s m_s g_s * h_s)``."""

    def __init__(self, stream_dims: Sequence[int], out_dim: int,
                 streams: Sequence[str] | None = None, hidden_dim: int = 256,
                 dropout: float = 0.0):
        super().__init__(stream_dims, out_dim, streams)
        self.hidden_dim = hidden_dim
        self.project = projections(self.stream_dims, hidden_dim)
        self.gate = nn.Linear(hidden_dim * self.num_streams, hidden_dim * self.num_streams)
        self.norm = nn.LayerNorm(hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_dim, out_dim)

    def forward(self, features: Mapping[str, torch.Tensor],
                mask: torch.Tensor | None = None) -> torch.Tensor:
        inputs, present = self.masked_inputs(features, mask)
        stacked = project_masked(self.project, inputs, present)  # (N, S, H)
        gates = torch.sigmoid(self.gate(stacked.flatten(1))).view_as(stacked)
        residual = (gates * stacked).sum(1)  # masked rows of ``stacked`` are 0
        fused = self.norm(masked_mean(stacked, present) + residual)
        return self.out(self.dropout(fused))
