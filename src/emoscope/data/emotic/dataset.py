"""``EmoticDataset``: per person a context, body and face tensor, stream mask and labels."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from emoscope.data.emotic.reader import read_emotic
from emoscope.data.emotic.records import EmoticData, EmoticPerson
from emoscope.data.emotic.transforms import STREAMS, StreamSpec, StreamTransform, stream_specs
from emoscope.data.images import load_image
from emoscope.errors import MediaError
from emoscope.labels import EMOTIC_CATEGORIES, EMOTIC_VAD
from emoscope.registry import DATASETS

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class VadStats:
    """Per-dimension min and max of valence, arousal, dominance (from the train split)."""

    low: tuple[float, float, float]
    high: tuple[float, float, float]

    @classmethod
    def from_values(cls, vad: np.ndarray) -> VadStats:
        vad = np.asarray(vad, np.float64).reshape(-1, 3)
        return cls(tuple(vad.min(0).tolist()), tuple(vad.max(0).tolist()))

    def _span(self) -> np.ndarray:
        span = np.asarray(self.high) - np.asarray(self.low)
        return np.where(span > 0, span, 1.0)  # a constant dimension maps to -1, not NaN

    def normalise(self, vad: np.ndarray) -> np.ndarray:
        """1-10 ratings -> [-1, 1] (train range); values outside it go beyond, never clipped."""
        return (2.0 * (np.asarray(vad) - np.asarray(self.low)) / self._span() - 1.0).astype(
            np.float32)

    def denormalise(self, values: np.ndarray) -> np.ndarray:
        return ((np.asarray(values) + 1.0) / 2.0 * self._span() + np.asarray(self.low)).astype(
            np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"low": list(self.low), "high": list(self.high)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[float]]) -> VadStats:
        return cls(tuple(data["low"]), tuple(data["high"]))


def _scaled(box: Box, sx: float, sy: float) -> Box:
    return (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)


def _pixels(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer crop bounds inside the image, at least one pixel wide and high."""
    x1 = min(max(int(np.floor(box[0])), 0), width - 1)
    y1 = min(max(int(np.floor(box[1])), 0), height - 1)
    x2 = min(max(int(np.ceil(box[2])), x1 + 1), width)
    y2 = min(max(int(np.ceil(box[3])), y1 + 1), height)
    return x1, y1, x2, y2


def _intersect(a: Box, b: Box) -> Box | None:
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[2] - box[0] >= 1 and box[3] - box[1] >= 1 else None


class EmoticDataset(Dataset):
    """EMOTIC persons as dicts of tensors for a three-stream model.

    Each item: ``context`` (the whole image; the body box blacked out with ``mask_body``),
    ``body`` (the body crop), ``face`` (the cached face box inside the body box; zeros when
    none), ``face_mask`` (1/0), ``stream_mask`` (context, body, face present), ``categories``
    (26 multi-hot floats), ``vad`` (3 floats on 1-10, or [-1, 1] when ``vad_stats`` is set),
    ``index`` (of the person returned: an unreadable image is reported once and skipped,
    its items served by the next readable person, so an epoch never stops on one file).

    streams: per stream a StreamSpec, dict or timm data config (size, mean, std, augment).
    train: augment (per stream level) and flip the whole image, so all streams mirror alike.
    min_face_visibility: faces with a lower cached visibility (0-100) count as missing.
    """

    def __init__(self, persons: Sequence[EmoticPerson], streams: Mapping[str, Any] | None = None,
                 train: bool = False, mask_body: bool = False, hflip: bool | None = None,
                 vad_stats: VadStats | None = None, min_face_visibility: float = 0.0):
        self.persons = list(persons)
        self.specs: dict[str, StreamSpec] = stream_specs(streams)
        self.transforms = {name: StreamTransform(spec) for name, spec in self.specs.items()}
        self.train = train
        self.mask_body = mask_body
        any_augment = any(spec.augment != "none" for spec in self.specs.values())
        self.hflip = any_augment if hflip is None else hflip
        self.vad_stats = vad_stats
        self.min_face_visibility = min_face_visibility
        self.category_space = EMOTIC_CATEGORIES
        self.vad_space = EMOTIC_VAD
        # persons whose image could not be read (position -> reason), in this process
        self.unreadable: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.persons)

    def preprocessing(self) -> dict[str, Any]:
        """What a checkpoint needs to reproduce the inputs and targets of this dataset."""
        return {
            "streams": {name: spec.to_dict() for name, spec in self.specs.items()},
            "mask_body": self.mask_body,
            "vad_stats": self.vad_stats.to_dict() if self.vad_stats else None,
            "label_spaces": [EMOTIC_CATEGORIES.to_dict(), EMOTIC_VAD.to_dict()],
        }

    def face_box(self, person: EmoticPerson) -> Box | None:
        """The usable face box in original pixels (inside the body box), or None."""
        if person.face_box is None:
            return None
        if (person.face_visibility or 0.0) < self.min_face_visibility:
            return None
        return _intersect(person.face_box, person.body_box)

    def _image(self, person: EmoticPerson) -> np.ndarray:
        if person.image_path is not None:
            return load_image(person.image_path).rgb
        return person.image_array.load()

    def _readable(self, index: int) -> tuple[int, np.ndarray]:
        """The image of person ``index``, or of the next person whose image can be read: an
        unreadable image is reported once (per process) and its persons are skipped."""
        for step in range(len(self.persons)):
            position = (index + step) % len(self.persons)
            if position in self.unreadable:
                continue
            person = self.persons[position]
            try:
                return position, self._image(person)
            except (MediaError, OSError, ValueError) as err:
                self.unreadable[position] = str(err)
                log.warning("EMOTIC: skipping unreadable image of %s (%s)", person.key, err)
        raise MediaError(self.persons[index].image_path or self.persons[index].key,
                         f"none of the {len(self.persons)} EMOTIC images can be read")

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index, image = self._readable(index)
        person = self.persons[index]
        height, width = image.shape[:2]
        sx, sy = width / person.width, height / person.height
        body_box = _scaled(person.body_box, sx, sy)
        face_box = self.face_box(person)
        face_box = _scaled(face_box, sx, sy) if face_box else None
        flip = self.train and self.hflip and bool(torch.rand(()) < 0.5)
        if flip:
            image = image[:, ::-1]
            body_box = (width - body_box[2], body_box[1], width - body_box[0], body_box[3])
            if face_box:
                face_box = (width - face_box[2], face_box[1], width - face_box[0], face_box[3])
        bx1, by1, bx2, by2 = _pixels(body_box, width, height)
        body = self._body_crop(person, image, (bx1, by1, bx2, by2), flip)
        context = image
        if self.mask_body:
            context = image.copy()
            context[by1:by2, bx1:bx2] = 0
        item = {
            "context": self.transforms["context"](context, self.train),
            "body": self.transforms["body"](body, self.train),
        }
        if face_box is not None:
            fx1, fy1, fx2, fy2 = _pixels(face_box, width, height)
            item["face"] = self.transforms["face"](image[fy1:fy2, fx1:fx2], self.train)
        else:
            item["face"] = self.transforms["face"].blank()
        has_face = float(face_box is not None)
        item["face_mask"] = torch.tensor(has_face)
        item["stream_mask"] = torch.tensor([1.0, 1.0, has_face])
        item["categories"] = torch.from_numpy(person.categories.astype(np.float32))
        vad = person.vad if self.vad_stats is None else self.vad_stats.normalise(person.vad)
        item["vad"] = torch.from_numpy(np.asarray(vad, np.float32))
        item["index"] = torch.tensor(index)
        return item

    def _body_crop(self, person: EmoticPerson, image: np.ndarray,
                   bounds: tuple[int, int, int, int], flip: bool) -> np.ndarray:
        # A stack of downsized context images (preprocessed layout without image files) ships
        # a sharper body crop of its own; otherwise crop the full-resolution image.
        if person.body_array is not None and person.image_array is not None \
                and person.image_array.index is not None:
            body = person.body_array.load()
            return body[:, ::-1] if flip else body
        x1, y1, x2, y2 = bounds
        return image[y1:y2, x1:x2]


def vad_train_stats(root: str | Path, **read_options: Any) -> VadStats:
    """Min/max of valence, arousal, dominance over the train split of ``root``."""
    train = read_emotic(root, "train", **read_options)
    return VadStats.from_values(np.stack([p.vad for p in train.persons]))


@DATASETS.register("emotic")
def load_emotic(root: str | Path, split: str = "train", cache_dir: str | Path | None = None,
                streams: Mapping[str, Any] | None = None, train: bool | None = None,
                mask_body: bool = False, normalise_vad: bool = False,
                vad_stats: VadStats | Mapping[str, Sequence[float]] | None = None,
                layout: str | None = None, face_cache: str | Path | None = None,
                min_face_visibility: float = 0.0, include_extra: bool = False,
                hflip: bool | None = None, records: EmoticData | None = None) -> EmoticDataset:
    """The persons of one EMOTIC split (any layout) as an ``EmoticDataset``.

    train: augment (default: split == 'train'). normalise_vad: map VAD to [-1, 1] with the
    train split's min/max (computed here unless ``vad_stats`` is given, e.g. from a checkpoint);
    the statistics are in ``dataset.vad_stats``. cache_dir is unused (images are decoded lazily).
    records: the split as ``read_emotic`` returned it (read earlier), instead of reading again.
    """
    options = {"layout": layout, "face_cache": face_cache}
    data = records or read_emotic(root, split, include_extra=include_extra, **options)
    if isinstance(vad_stats, Mapping):
        vad_stats = VadStats.from_dict(vad_stats)
    if normalise_vad and vad_stats is None:
        if split == "train":
            vad_stats = VadStats.from_values(np.stack([p.vad for p in data.persons]))
        else:
            vad_stats = vad_train_stats(root, include_extra=include_extra, **options)
    dataset = EmoticDataset(data.persons, streams, train=split == "train" if train is None
                            else train, mask_body=mask_body, hflip=hflip,
                            vad_stats=vad_stats if normalise_vad or vad_stats else None,
                            min_face_visibility=min_face_visibility)
    dataset.skipped = data.skipped
    return dataset


__all__ = ["STREAMS", "EmoticDataset", "VadStats", "load_emotic", "vad_train_stats"]
