"""Fusions that model interactions between streams: bilinear (pairwise products) and
cross_modal_transformer (streams as tokens attending to each other)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import torch
from torch import nn

from emoscope.errors import UserError
from emoscope.models.fusion.base import StreamFusion, masked_mean, project_masked, projections
from emoscope.registry import FUSIONS


@FUSIONS.register("bilinear")
class BilinearFusion(StreamFusion):
    """Low-rank bilinear pooling: streams projected to ``rank`` dims; the output layer sees
    every projection and every pairwise Hadamard product ``h_i * h_j`` (i < j). A masked
    stream's projection is 0, so its products are 0 too."""

    def __init__(self, stream_dims: Sequence[int], out_dim: int,
                 streams: Sequence[str] | None = None, rank: int = 128, dropout: float = 0.0):
        super().__init__(stream_dims, out_dim, streams)
        self.pairs = list(combinations(range(self.num_streams), 2))
        self.project = projections(self.stream_dims, rank, activation=False)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(rank * (self.num_streams + len(self.pairs)), out_dim)

    def forward(self, features: Mapping[str, torch.Tensor],
                mask: torch.Tensor | None = None) -> torch.Tensor:
        inputs, present = self.masked_inputs(features, mask)
        stacked = torch.tanh(project_masked(self.project, inputs, present))
        terms = [stacked[:, i] for i in range(self.num_streams)]
        terms += [stacked[:, i] * stacked[:, j] for i, j in self.pairs]
        return self.out(self.dropout(torch.cat(terms, dim=1)))


@FUSIONS.register("cross_modal_transformer")
class CrossModalTransformerFusion(StreamFusion):
    """One token per stream (projection + learned stream embedding), a small transformer
    encoder whose attention ignores masked tokens (key padding), then the mean of the present
    tokens mapped to ``out_dim``."""

    def __init__(self, stream_dims: Sequence[int], out_dim: int,
                 streams: Sequence[str] | None = None, hidden_dim: int = 256,
                 num_heads: int = 4, depth: int = 1, dropout: float = 0.1):
        super().__init__(stream_dims, out_dim, streams)
        if hidden_dim % num_heads:
            raise UserError(f"cross_modal_transformer: hidden_dim {hidden_dim} is not divisible "
                            f"by num_heads {num_heads}")
        self.project = projections(self.stream_dims, hidden_dim, activation=False)
        self.stream_embedding = nn.Parameter(torch.zeros(1, self.num_streams, hidden_dim))
        layer = nn.TransformerEncoderLayer(hidden_dim, num_heads, dim_feedforward=2 * hidden_dim,
                                           dropout=dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden_dim)
        self.out = nn.Linear(hidden_dim, out_dim)
        nn.init.trunc_normal_(self.stream_embedding, std=0.02)

    def forward(self, features: Mapping[str, torch.Tensor],
                mask: torch.Tensor | None = None) -> torch.Tensor:
        inputs, present = self.masked_inputs(features, mask)
        tokens = project_masked(self.project, inputs, present) + self.stream_embedding
        padding = present < 0.5
        # A sample with no stream at all attends normally (to constant tokens) and is pooled
        # to 0 below; an all-padded row would give NaN.
        padding = padding & ~padding.all(dim=1, keepdim=True)
        encoded = self.encoder(tokens, src_key_padding_mask=padding)
        return self.out(self.norm(masked_mean(encoded, present)))
