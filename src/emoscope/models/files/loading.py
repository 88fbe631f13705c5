"""One place that loads a model for inference, on either runtime: the face predictor, the voice
timeline, evaluation and the service all call ``load_for_inference``.

``runtime``: ``auto`` (default) runs a model in ONNX Runtime when it has a graph (every shipped
model has one, and ``emoscope export --onnx`` writes one) or when torch is not installed, and
in PyTorch otherwise (checkpoints and safetensors models from training); ``torch`` and ``onnx``
ask for one. The analysis install (``pip install emoscope``) has no torch: there a model
without a graph is one clear line naming what to install.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.errors import UserError
from emoscope.models.files.checkpoint import ModelCard
from emoscope.models.files.zoo import resolve_model_path

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "torch", "onnx")
TRAIN_EXTRA = "pip install 'emoscope[train]'"


def check_runtime(runtime: str) -> None:
    if runtime not in RUNTIMES:
        raise UserError(f"unknown runtime '{runtime}'; use {', '.join(RUNTIMES[:-1])} or "
                        f"{RUNTIMES[-1]}")


def torch_available() -> bool:
    """Whether torch is installed (found without importing it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a broken or hidden install counts as none
        return False


def require_torch(what: str) -> None:
    """One line naming the extra to install when ``what`` needs torch and it is absent."""
    if not torch_available():
        raise UserError(f"{what} needs PyTorch, which the analysis install leaves out; "
                        f"install it with: {TRAIN_EXTRA}")


@dataclass
class LoadedModel:
    """A model ready for inference: ``network`` is an ``nn.Module`` or an ``OnnxModel``."""

    network: Any
    card: ModelCard
    source: str  # the file it came from, for reports
    runtime: str  # torch or onnx: the one chosen


def _model_path(name_or_path: str | Path | None, task: str) -> Path:
    if name_or_path is not None and Path(name_or_path).suffix == ".onnx":
        path = Path(name_or_path)
        if not path.is_file():
            raise UserError(f"{path}: ONNX model not found")
        return path
    return resolve_model_path(name_or_path, task)


def load_for_inference(name_or_path: str | Path | None, task: str = "face_expression",
                       runtime: str = "auto", device: str = "cpu",
                       threads: int = 0) -> LoadedModel:
    """A shipped model by name, a model file (``.json``/``.safetensors``, ``.ckpt``,
    ``.onnx``) or None (the task's default), loaded on the runtime ``runtime`` resolves to."""
    from emoscope.models.files.onnx_runtime import open_graph

    check_runtime(runtime)
    path = _model_path(name_or_path, task)
    linear = _numpy_speech_model(path)
    if linear is not None:  # numpy on every runtime: no graph, no torch
        return linear
    if runtime != "torch":
        opened = open_graph(path, str(device), threads)
        if opened is not None:
            model, card = opened
            return LoadedModel(model, card, model.source, "onnx")
        if runtime == "auto" and torch_available():
            runtime = "torch"
    if runtime == "torch":
        return _load_torch(path, device)
    return _export_in_memory(path, name_or_path, str(device), threads)


def _numpy_speech_model(path: Path) -> LoadedModel | None:
    """A ``speech_linear`` model file (GE2E features + linear head, run in numpy)."""
    from emoscope.models.files.checkpoint import read_card
    from emoscope.models.speech_linear import LINEAR_ARCHITECTURE, load_linear_speech_model

    if path.suffix not in (".json", ".safetensors"):
        return None
    card = read_card(path)
    if card.architecture != LINEAR_ARCHITECTURE:
        return None
    model = load_linear_speech_model(path.with_suffix(".safetensors"), card)
    return LoadedModel(model, card, str(path), "numpy")


def _load_torch(path: Path, device: str) -> LoadedModel:
    require_torch(f"{path}: running this model in PyTorch (--runtime torch)")
    if path.suffix == ".onnx":
        raise UserError(f"{path}: an ONNX graph runs in ONNX Runtime (--runtime onnx)")
    from emoscope.models.files.checkpoint import load_model

    network, card = load_model(path, device=device)
    return LoadedModel(network, card, str(path), "torch")


def _export_in_memory(path: Path, name: str | Path | None, device: str,
                      threads: int) -> LoadedModel:
    """No graph beside the model: export one in memory (needs torch to rebuild it)."""
    require_torch(f"{path}: this model has no ONNX graph beside it; running it")
    from emoscope.models.files.checkpoint import load_model
    from emoscope.models.files.onnx_export import onnx_bytes
    from emoscope.models.files.onnx_runtime import OnnxModel, make_session

    network, card = load_model(path)
    log.info("exporting %s to ONNX in memory (emoscope export %s --onnx keeps the file)",
             card.name, name or card.name)
    data, entry = onnx_bytes(network, card)
    card.extra = {**card.extra, "onnx": entry}
    return LoadedModel(OnnxModel(make_session(data, device, threads), card), card,
                       f"{path} (onnx)", "onnx")


def predict_softmax(network: Any, inputs: list, batch_size: int = 64,
                    device: str = "cpu", waves: list | None = None,
                    starts: list | None = None) -> np.ndarray:
    """Softmax scores (N, classes) of equally shaped model inputs (spectrograms, images), in
    batches, on either runtime; float32 numpy out. ``waves`` (and their sample offsets
    ``starts`` in one signal): the waveforms of speech spectrograms, for numpy speech models
    that read them (others ignore them)."""
    from emoscope.models.files.onnx_runtime import OnnxModel, softmax
    from emoscope.models.speech_linear import LinearSpeechModel

    if isinstance(network, LinearSpeechModel):
        return network.predict(inputs, waves, starts=starts)

    if not len(inputs):
        return np.zeros((0, 0), dtype=np.float32)
    scores = []
    for start in range(0, len(inputs), batch_size):
        batch = np.stack(inputs[start:start + batch_size]).astype(np.float32)
        if isinstance(network, OnnxModel):
            out = network.run(batch)
            scores.append(softmax(out.get("logits", next(iter(out.values())))))
        else:
            scores.append(_torch_softmax(network, batch, device))
    return np.concatenate(scores)


def _torch_softmax(network: Any, batch: np.ndarray, device: str) -> np.ndarray:
    import torch

    with torch.inference_mode():
        out = network.to(device).eval()(torch.from_numpy(batch).to(device))
    logits = out["logits"] if isinstance(out, dict) else out
    return logits.float().softmax(1).cpu().numpy()
