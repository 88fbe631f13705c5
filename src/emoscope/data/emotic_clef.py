"""EMOTIC persons for CLEF: the factual model's streams (context, body, face) as
``EmoticDataset`` gives them, plus ``context_masked``, the whole image with the person set to
zero for the context branch: the body box (``mask="box"``), or the person's pixels inside it
from MediaPipe's selfie segmentation (``segmentation`` / ``auto``, see ``subject_mask``).

The masked view is never flipped or augmented, so with flip augmentation the two views of a
person may be mirrored differently (an augmentation, not a label change)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from emoscope.data.emotic.dataset import EmoticDataset, load_emotic
from emoscope.data.emotic.records import EmoticPerson
from emoscope.data.emotic.transforms import StreamSpec, StreamTransform
from emoscope.data.images import load_image
from emoscope.data.subject_mask import MASK_MODES, build_segmenter, mask_subject
from emoscope.errors import UserError
from emoscope.labels import EMOTIC_CATEGORIES
from emoscope.registry import DATASETS


class EmoticWithMaskedContext(Dataset):
    """Items of ``factual`` with ``context_masked`` (spec ``context_masked``, mask ``mask``)."""

    def __init__(self, factual: EmoticDataset, context_masked: Mapping[str, Any] | None = None,
                 mask: str = "box"):
        if mask not in MASK_MODES:
            raise UserError(f"unknown subject mask mode '{mask}'; known: {', '.join(MASK_MODES)}")
        self.factual, self.mask = factual, mask
        spec = dict(context_masked or {})
        spec.pop("augment", None)
        self.transform = StreamTransform(StreamSpec.coerce(spec))
        self.label_space = EMOTIC_CATEGORIES
        self._segmenter: Any = None  # built on first use, in the worker that uses it

    @property
    def persons(self) -> list[EmoticPerson]:
        return self.factual.persons

    def __len__(self) -> int:
        return len(self.factual)

    def masked_context(self, person: EmoticPerson) -> np.ndarray:
        """The person's image (RGB uint8) with the person set to zero."""
        if person.image_path is not None:
            rgb = load_image(person.image_path).rgb
        else:
            rgb = person.image_array.load()
        sx, sy = rgb.shape[1] / person.width, rgb.shape[0] / person.height
        x1, y1, x2, y2 = person.body_box
        if self.mask != "box" and self._segmenter is None:
            self._segmenter = build_segmenter(self.mask) or False
        return mask_subject(rgb, (x1 * sx, y1 * sy, x2 * sx, y2 * sy),
                            self._segmenter or None)[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = dict(self.factual[index])
        item["context_masked"] = self.transform(self.masked_context(self.persons[index]), False)
        return item


@DATASETS.register("emotic_clef")
def load_emotic_clef(root: str, split: str = "train", cache_dir: str | None = None,
                     streams: Mapping[str, Any] | None = None,
                     context_masked: Mapping[str, Any] | None = None,
                     train: bool | None = None, limit: int = 0, mask: str = "box",
                     **options: Any) -> EmoticWithMaskedContext:
    """One EMOTIC split (any layout) for CLEF. streams: the factual model's stream specs;
    context_masked: the context branch's spec (default: the context stream's). ``options`` go
    to ``load_emotic`` (layout, face_cache, min_face_visibility, ...); the factual view never
    masks the body."""
    options.pop("mask_body", None)
    factual = load_emotic(root, split, streams=streams, train=train, mask_body=False, **options)
    if limit > 0:
        factual.persons = factual.persons[:limit]
    return EmoticWithMaskedContext(factual, context_masked or (streams or {}).get("context"),
                                   mask)
