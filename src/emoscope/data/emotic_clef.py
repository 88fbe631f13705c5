"""EMOTIC persons for CLEF: the factual model's streams (context, body, face) as
``EmoticDataset`` gives them, plus ``context_masked``, the whole image with the person's body
box set to zero (``EmoticDataset``'s ``mask_body``), for the context branch.

The masked context comes from a second ``EmoticDataset`` over the same persons that only
decodes what it needs (its other streams are 8x8); it is never flipped, so with flip
augmentation the two views of a person may be mirrored differently (an augmentation, not a
label change)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import Dataset

from emoscope.data.emotic.dataset import EmoticDataset, load_emotic
from emoscope.labels import EMOTIC_CATEGORIES
from emoscope.registry import DATASETS

TINY = {"size": 8}


class EmoticWithMaskedContext(Dataset):
    """Items of ``factual`` with ``context_masked`` from ``masked`` (same persons, in order)."""

    def __init__(self, factual: EmoticDataset, masked: EmoticDataset):
        if len(factual) != len(masked):
            raise ValueError(f"{len(factual)} factual but {len(masked)} masked persons")
        self.factual, self.masked = factual, masked
        self.label_space = EMOTIC_CATEGORIES

    @property
    def persons(self):
        return self.factual.persons

    def limit(self, count: int) -> None:
        """Keep the first ``count`` persons (smoke runs)."""
        self.factual.persons = self.factual.persons[:count]
        self.masked.persons = self.masked.persons[:count]

    def __len__(self) -> int:
        return len(self.factual)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = dict(self.factual[index])
        item["context_masked"] = self.masked[index]["context"]
        return item


@DATASETS.register("emotic_clef")
def load_emotic_clef(root: str, split: str = "train", cache_dir: str | None = None,
                     streams: Mapping[str, Any] | None = None,
                     context_masked: Mapping[str, Any] | None = None,
                     train: bool | None = None, limit: int = 0,
                     **options: Any) -> EmoticWithMaskedContext:
    """One EMOTIC split (any layout) for CLEF. streams: the factual model's stream specs;
    context_masked: the context branch's spec. ``options`` go to ``load_emotic`` (layout,
    face_cache, min_face_visibility, ...); ``mask_body`` is always false for the factual
    view and true for the masked one."""
    options.pop("mask_body", None)
    factual = load_emotic(root, split, streams=streams, train=train, mask_body=False, **options)
    masked_spec = dict(context_masked or (streams or {}).get("context") or {})
    masked_spec.pop("augment", None)
    masked = load_emotic(root, split, train=False, mask_body=True, hflip=False,
                         streams={"context": masked_spec, "body": TINY, "face": TINY},
                         **{k: v for k, v in options.items() if k != "hflip"})
    dataset = EmoticWithMaskedContext(factual, masked)
    if limit > 0:
        dataset.limit(limit)
    return dataset
