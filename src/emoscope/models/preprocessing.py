"""What a model expects of its input image: channels, size and normalisation. A dataclass of
its own so that reading a model card needs neither torch nor timm."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preprocessing:
    """What a backbone expects: channels, size and normalisation (from timm's data config)."""

    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"

    def to_dict(self) -> dict:
        return {
            "input_size": list(self.input_size),
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessing:
        return cls(
            tuple(data["input_size"]),
            tuple(data["mean"]),
            tuple(data["std"]),
            data.get("interpolation", "bilinear"),
        )
