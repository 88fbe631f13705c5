"""``--runtime onnx`` for analysis: the names analysis code and older callers import. The
session wrapper lives in ``models/files/onnx_runtime.py`` and the choice of runtime in
``models/files/loading.py`` (one loader for the predictor, the voice stage, evaluation and
serve)."""

from __future__ import annotations

from pathlib import Path

from emoscope.models.files.checkpoint import ModelCard
from emoscope.models.files.loading import RUNTIMES, check_runtime, load_for_inference
from emoscope.models.files.onnx_runtime import OnnxModel

__all__ = ["RUNTIMES", "OnnxModel", "check_runtime", "load_onnx"]


def load_onnx(name_or_path: str | Path | None, task: str = "face_expression",
              device: str = "cpu", threads: int = 0) -> tuple[OnnxModel, ModelCard]:
    """An ``.onnx`` export, a model's graph beside it, or any model (shipped name,
    safetensors, checkpoint) exported in memory when it has no up-to-date graph."""
    loaded = load_for_inference(name_or_path, task, "onnx", device, threads)
    return loaded.network, loaded.card
