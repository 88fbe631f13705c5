"""Context / body / face model: one backbone per stream, a fusion, emotion heads.

``forward(batch)`` takes ``{"context", "body", "face"}`` image tensors (only the streams in
use are needed) and an optional ``stream_mask`` (N, 3) in ``STREAMS`` order, or (N, S) in the
model's own stream order; it returns ``{"categories": (N, C) logits, "vad": (N, 3)}``.
For frozen-backbone feature caching, ``features(batch)`` gives per-stream features and
``forward_features(features, mask)`` finishes the pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from emoscope.errors import UserError
from emoscope.labels import EMOTIC_CATEGORIES, EMOTIC_VAD, LabelSpace
from emoscope.models.backbones import (
    Preprocessing,
    PretrainedMode,
    backbone_preprocessing,
    build_backbone,
)
from emoscope.models.files.checkpoint import ModelCard
from emoscope.models.fusion import build_fusion
from emoscope.models.streams import STREAMS, parse_ablation, resolve_backbone
from emoscope.registry import HEADS, MODELS

# The loss of the EMOTIC reference, as kwargs of the ``combined`` LOSSES entry.
REFERENCE_LOSS: dict[str, Any] = {"categorical": "discrete", "vad": "l2",
                                  "categorical_weight": 0.5, "vad_weight": 0.5}


def feature_width(backbone: nn.Module) -> int:
    """Width of the pooled features (mobilenetv3 adds a conv head after ``num_features``)."""
    return int(getattr(backbone, "head_hidden_size", None) or backbone.num_features)


@MODELS.register("multistream")
class MultiStreamModel(nn.Module):
    """Per-stream backbones (timm names or study aliases; ``None`` = no such stream), a
    FUSIONS entry and a HEADS entry. ``ablation`` keeps a subset of the configured streams.
    ``image_sizes`` overrides a stream's square input size (the reference: body 128)."""

    def __init__(
        self,
        context: str | None = "resnet18",
        body: str | None = "resnet18",
        face: str | None = None,
        ablation: str = "all",
        fusion: str = "simple",
        fusion_dim: int = 256,
        fusion_kwargs: dict[str, Any] | None = None,
        heads: str = "emotion",
        head_kwargs: dict[str, Any] | None = None,
        image_sizes: Mapping[str, int] | None = None,
        pretrained: PretrainedMode = "none",
        in_chans: int = 3,
    ):
        super().__init__()
        configured = {"context": context, "body": body, "face": face}
        wanted = parse_ablation(ablation)
        if ablation.strip().lower() == "all":
            wanted = tuple(s for s in wanted if configured[s])
        lacking = [s for s in wanted if not configured[s]]
        if lacking or not wanted:
            raise UserError(f"multistream: ablation '{ablation}' needs a backbone for "
                            f"{lacking or list(STREAMS)} (e.g. --{(lacking or ['context'])[0]}"
                            "_model resnet18)")
        self.streams = wanted
        sizes = {k: int(v) for k, v in (image_sizes or {}).items()}
        # Everything needed to rebuild this model (a model card's architecture kwargs).
        self.config: dict[str, Any] = {
            "context": context, "body": body, "face": face, "ablation": ablation,
            "fusion": fusion, "fusion_dim": fusion_dim, "fusion_kwargs": dict(fusion_kwargs or {}),
            "heads": heads, "head_kwargs": dict(head_kwargs or {}), "image_sizes": sizes,
            "in_chans": in_chans,
        }
        self.backbone_names = {s: resolve_backbone(configured[s]) for s in wanted}
        self.backbones = nn.ModuleDict({
            s: build_backbone(name, pretrained=pretrained, in_chans=in_chans)
            for s, name in self.backbone_names.items()
        })
        self.preprocessing: dict[str, Preprocessing] = {
            s: backbone_preprocessing(self.backbones[s], sizes.get(s)) for s in wanted
        }
        self.fusion = build_fusion(fusion, [feature_width(self.backbones[s]) for s in wanted],
                                   fusion_dim, streams=list(wanted), **(fusion_kwargs or {}))
        self.heads = HEADS.build(heads, in_dim=fusion_dim, **(head_kwargs or {}))
        # A bare HEADS entry returns a tensor: name it by what it predicts.
        self._single_output = "vad" if heads == "vad" else "categories"

    def _outputs(self, out: torch.Tensor | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return out if isinstance(out, dict) else {self._single_output: out}

    def stream_mask(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The (N, S) 0/1 mask of this model's streams from a batch (all ones if absent)."""
        n = batch[self.streams[0]].shape[0] if self.streams[0] in batch else None
        mask = batch.get("stream_mask")
        if mask is None:
            if n is None:
                raise UserError(f"multistream: batch has no '{self.streams[0]}' images")
            return torch.ones(n, len(self.streams), device=batch[self.streams[0]].device)
        mask = mask.float()
        if mask.dim() == 2 and mask.shape[1] == len(STREAMS):
            return mask[:, [STREAMS.index(s) for s in self.streams]]
        if mask.dim() == 2 and mask.shape[1] == len(self.streams):
            return mask
        raise UserError(f"multistream: stream_mask of shape {tuple(mask.shape)}; expected "
                        f"(N, {len(STREAMS)}) for {STREAMS} or (N, {len(self.streams)})")

    def stream_features(self, stream: str, images: torch.Tensor,
                        present: torch.Tensor | None = None) -> torch.Tensor:
        """(N, D) features of one stream; rows not ``present`` are 0 and never reach the
        backbone (so BatchNorm statistics ignore them), except when training on fewer than
        two present rows, where BatchNorm needs the whole batch."""
        backbone = self.backbones[stream]
        if present is None or bool(present.all()):
            return backbone(images)
        keep = present > 0.5
        # ONNX export traces one path for every batch: zeroing after the backbone is (in eval
        # mode) the same answer without data-dependent shapes.
        if (self.training and int(keep.sum()) < 2) or torch.jit.is_tracing():
            feats = backbone(images)
            return torch.where(keep.unsqueeze(1), feats, torch.zeros((), device=feats.device))
        out = images.new_zeros(images.shape[0], feature_width(backbone))
        if keep.any():
            out[keep] = backbone(images[keep]).to(out.dtype)
        return out

    def features(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Backbone features per stream (what a frozen-backbone cache stores)."""
        missing = [s for s in self.streams if s not in batch]
        if missing:
            raise UserError(f"multistream: batch lacks images for stream(s) {missing}; the "
                            f"model uses {list(self.streams)}")
        mask = self.stream_mask(batch)
        return {s: self.stream_features(s, batch[s], mask[:, i])
                for i, s in enumerate(self.streams)}

    def forward_features(self, features: Mapping[str, torch.Tensor],
                         stream_mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Fusion and heads on per-stream features; ``stream_mask`` as in ``forward``."""
        mask = None
        if stream_mask is not None:
            mask = self.stream_mask({"stream_mask": stream_mask, **features})
        return self._outputs(self.heads(self.fusion(features, mask)))

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mask = self.stream_mask(batch)
        return self._outputs(self.heads(self.fusion(self.features(batch), mask)))


@MODELS.register("emotic_reference")
def emotic_reference(pretrained: PretrainedMode = "none", **overrides: Any) -> MultiStreamModel:
    """The EMOTIC reference (Kosti et al.): context (224) and body (128) ResNet-18s, their
    features concatenated into fc(256) -> bn -> relu -> dropout(0.5) -> 26 categories + 3 VAD;
    train it with ``combined`` and ``REFERENCE_LOSS`` (the discrete loss). The ``simple``
    fusion's linear layer is the reference's fc."""
    kwargs: dict[str, Any] = {
        "context": "resnet18", "body": "resnet18", "face": None, "fusion": "simple",
        "fusion_dim": 256, "heads": "emotion",
        "head_kwargs": {"block": "bn_relu_dropout", "dropout": 0.5,
                        "num_categories": EMOTIC_CATEGORIES.num_classes,
                        "num_vad": EMOTIC_VAD.num_classes},
        "image_sizes": {"context": 224, "body": 128},
    }
    kwargs.update(overrides)
    return MultiStreamModel(pretrained=pretrained, **kwargs)


def multistream_card(model: MultiStreamModel, name: str,
                     label_space: LabelSpace = EMOTIC_CATEGORIES, **fields: Any) -> ModelCard:
    """A model card that rebuilds ``model`` (architecture ``multistream``). Each stream's
    preprocessing goes to ``extra["stream_preprocessing"]``; the card's own preprocessing
    is the first stream's. ``fields`` fill the other card fields (data, recipe, scores...)."""
    outputs = [key for key in ("categories", "vad")
               if getattr(model.heads, key, None) is not None] or [model._single_output]
    extra = dict(fields.pop("extra", {}))
    extra["stream_preprocessing"] = {s: p.to_dict() for s, p in model.preprocessing.items()}
    extra["streams"] = list(model.streams)
    return ModelCard(name=name, architecture="multistream", architecture_kwargs=model.config,
                     label_space=label_space, preprocessing=model.preprocessing[model.streams[0]],
                     outputs=outputs, task=fields.pop("task", "context_emotion"), extra=extra,
                     **fields)


def stream_preprocessing(card: ModelCard) -> dict[str, Preprocessing]:
    """Per-stream preprocessing stored by ``multistream_card``."""
    stored = card.extra.get("stream_preprocessing")
    if not stored:
        raise UserError(f"model card '{card.name}' has no per-stream preprocessing")
    return {stream: Preprocessing.from_dict(data) for stream, data in stored.items()}
