"""The models shipped inside the package (``emoscope/weights``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from emoscope.errors import UserError
from emoscope.models.files.checkpoint import ModelCard, load_model, read_card

if TYPE_CHECKING:
    import torch
    from torch import nn

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"  # emoscope/weights

# The default model per task; evaluation and analysis fall back to these.
DEFAULT_FOR_TASK = {"face_expression": "fer2013-lite0",
                    "speech_emotion": "ravdess-speech-ge2e-egemaps"}


def shipped_cards() -> list[ModelCard]:
    return [read_card(p) for p in sorted(WEIGHTS_DIR.glob("*.json"))]


def shipped_names() -> list[str]:
    return [p.stem for p in sorted(WEIGHTS_DIR.glob("*.json"))]


def resolve_model_path(name_or_path: str | Path | None, task: str = "face_expression") -> Path:
    """A shipped model name, a task default (None) or a path to ``.safetensors``/``.json``."""
    if name_or_path is None:
        name_or_path = DEFAULT_FOR_TASK.get(task)
        if name_or_path is None:
            raise UserError(f"no shipped model for task '{task}'")
    candidate = Path(name_or_path)
    if candidate.suffix == ".ckpt":  # a Lightning checkpoint carries its card inside
        if not candidate.is_file():
            raise UserError(f"{candidate}: checkpoint not found")
        return candidate
    if candidate.suffix in (".safetensors", ".json") or candidate.exists():
        if not candidate.exists():
            raise UserError(f"{candidate}: model file not found")
        if not candidate.with_suffix(".json").is_file():
            raise UserError(f"{candidate}: no model card (.json) beside it")
        return candidate
    shipped = WEIGHTS_DIR / f"{name_or_path}.json"
    if shipped.is_file():
        return shipped
    known = ", ".join(shipped_names()) or "(none shipped yet)"
    raise UserError(f"unknown model '{name_or_path}'; shipped models: {known}")


def load(
    name_or_path: str | Path | None = None,
    task: str = "face_expression",
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, ModelCard]:
    return load_model(resolve_model_path(name_or_path, task), device=device)
