"""Per-stream image preparation for EMOTIC: resize, augment (none / basic / full), normalise.

Sizes and normalisation come from each stream's backbone (``timm.data.resolve_model_data_config``
via ``StreamSpec.from_data_config``); nothing here knows a backbone's statistics. Horizontal
flips are not part of a stream's augmentation: the dataset flips the whole image once, so
context, body and face stay mirror-consistent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from emoscope.errors import UserError

AUGMENT_LEVELS = ("none", "basic", "full")
STREAMS = ("context", "body", "face")


@dataclass(frozen=True)
class StreamSpec:
    """How one stream's crop becomes a tensor: (height, width), mean/std, augmentation level.

    The defaults (mean 0, std 1) only scale pixels to [0, 1]; pass a backbone's data config.
    """

    size: tuple[int, int] = (224, 224)
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    augment: str = "none"

    def __post_init__(self) -> None:
        size = (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)
        object.__setattr__(self, "size", tuple(int(s) for s in size))
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        if self.augment not in AUGMENT_LEVELS:
            raise UserError(f"unknown augmentation level '{self.augment}'; use one of "
                            f"{', '.join(AUGMENT_LEVELS)}")

    @classmethod
    def from_data_config(cls, config: Mapping[str, Any], augment: str = "none") -> StreamSpec:
        """From a timm data config (``input_size`` (C, H, W), ``mean``, ``std``)."""
        _, height, width = config["input_size"]
        return cls((height, width), tuple(config["mean"]), tuple(config["std"]), augment)

    @classmethod
    def coerce(cls, value: StreamSpec | Mapping[str, Any] | None) -> StreamSpec:
        if value is None:
            return cls()
        if isinstance(value, StreamSpec):
            return value
        if "input_size" in value:
            return cls.from_data_config(value, value.get("augment", "none"))
        return cls(**value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class GaussianNoise(torch.nn.Module):
    """Adds N(0, sigma) noise to a float image in [0, 1] with probability ``p``."""

    def __init__(self, sigma: float, p: float = 0.5):
        super().__init__()
        self.sigma, self.p = sigma, p

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if torch.rand(()) >= self.p:
            return image
        return (image + torch.randn_like(image) * self.sigma).clamp_(0.0, 1.0)


def augmentation(level: str) -> tuple[Callable | None, Callable | None]:
    """(uint8 transform, float transform) for a level; (None, None) for 'none'."""
    from torchvision.transforms import v2

    if level == "none":
        return None, None
    if level == "basic":
        on_uint8 = v2.Compose([
            v2.RandomApply([v2.ColorJitter(0.2, 0.2, 0.2, 0.02)], p=0.8),
            v2.RandomAffine(degrees=8, translate=(0.05, 0.05), scale=(0.92, 1.08)),
            v2.RandomApply([v2.GaussianBlur(3, sigma=(0.1, 1.0))], p=0.2),
        ])
        return on_uint8, GaussianNoise(0.02, p=0.3)
    if level == "full":
        on_uint8 = v2.Compose([
            v2.RandAugment(num_ops=2, magnitude=9),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.05)], p=0.8),
            v2.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.85, 1.15), shear=5),
            v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.5))], p=0.3),
        ])
        on_float = v2.Compose([GaussianNoise(0.04, p=0.5),
                               v2.RandomErasing(p=0.25, scale=(0.02, 0.15), value=0)])
        return on_uint8, on_float
    raise UserError(f"unknown augmentation level '{level}'; use one of {', '.join(AUGMENT_LEVELS)}")


class StreamTransform:
    """uint8 (H, W, 3) crop -> normalised float (3, height, width), augmented when training."""

    def __init__(self, spec: StreamSpec):
        self.spec = spec
        self.on_uint8, self.on_float = augmentation(spec.augment)
        self.mean = torch.tensor(spec.mean).view(3, 1, 1)
        self.std = torch.tensor(spec.std).view(3, 1, 1)

    def __call__(self, rgb: np.ndarray, train: bool) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as F

        image = torch.from_numpy(np.require(rgb, np.uint8, ['C', 'W'])).permute(2, 0, 1)
        image = F.resize(image, list(self.spec.size), antialias=True)
        if train and self.on_uint8 is not None:
            image = self.on_uint8(image)
        out = image.float().div_(255.0)
        if train and self.on_float is not None:
            out = self.on_float(out)
        return (out - self.mean) / self.std

    def blank(self) -> torch.Tensor:
        return torch.zeros(3, *self.spec.size)


def stream_specs(specs: Mapping[str, Any] | Sequence[Any] | None) -> dict[str, StreamSpec]:
    """A spec per stream from a mapping stream -> StreamSpec / dict / timm data config."""
    specs = dict(specs or {})
    unknown = sorted(set(specs) - set(STREAMS))
    if unknown:
        raise UserError(f"unknown EMOTIC stream '{unknown[0]}'; streams: {', '.join(STREAMS)}")
    return {name: StreamSpec.coerce(specs.get(name)) for name in STREAMS}
