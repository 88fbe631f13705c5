"""Stream fusions, registered in ``FUSIONS``; build one with ``build_fusion``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from emoscope.models.fusion import concat, hierarchical, interaction, weighting  # noqa: F401
from emoscope.models.fusion.base import StreamFusion
from emoscope.registry import FUSIONS


def build_fusion(name: str, stream_dims: Sequence[int], out_dim: int,
                 streams: Sequence[str] | None = None, **kwargs: Any) -> StreamFusion:
    """The fusion registered as ``name`` for streams of these widths."""
    return FUSIONS.build(name, stream_dims=stream_dims, out_dim=out_dim, streams=streams,
                         **kwargs)


__all__ = ["StreamFusion", "build_fusion"]
