"""``--runtime onnx``: an ONNX Runtime session that answers like the PyTorch model does, so the
predictor and the evaluator run it unchanged (tensor or stream mapping in; a dict of named
outputs, or one tensor, out)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from emoscope.errors import UserError
from emoscope.models.checkpoint import ModelCard, read_card
from emoscope.models.onnx_export import make_session, onnx_bytes, weights_digest

log = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnx")


def check_runtime(runtime: str) -> None:
    if runtime not in RUNTIMES:
        raise UserError(f"unknown runtime '{runtime}'; use {' or '.join(RUNTIMES)}")


class OnnxModel:
    """The model of an ONNX export behind the PyTorch model's calling convention."""

    def __init__(self, session, card: ModelCard, source: str = "memory"):
        entry = card.extra.get("onnx", {})
        self.session = session
        self.source = source  # the .onnx file, or "memory" for an export made on loading
        self.card = card
        self.input_names = [i.name for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]
        self.returns_dict = bool(entry.get("returns_dict", True))

    def _feed(self, inputs: torch.Tensor | Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
        if isinstance(inputs, Mapping):
            batch = next(iter(inputs.values())).shape[0]
            feed = {}
            for name in self.input_names:
                value = inputs.get(name)
                if value is None and name == "stream_mask":
                    value = torch.ones(batch, len(self.input_names) - 1)
                if value is None:
                    raise UserError(f"ONNX model '{self.card.name}' needs input '{name}'")
                feed[name] = value.detach().float().cpu().contiguous().numpy()
            return feed
        rank = len(self.session.get_inputs()[0].shape)
        if inputs.dim() == rank - 1:  # a (N, F, T) spectrogram for an (N, 1, F, T) input
            inputs = inputs.unsqueeze(1)
        return {self.input_names[0]: inputs.detach().float().cpu().contiguous().numpy()}

    def __call__(self, inputs: torch.Tensor | Mapping[str, torch.Tensor]
                 ) -> dict[str, torch.Tensor] | torch.Tensor:
        outputs = self.session.run(None, self._feed(inputs))
        tensors = [torch.from_numpy(out) for out in outputs]
        if not self.returns_dict:
            return tensors[0]
        return dict(zip(self.output_names, tensors, strict=True))

    # The torch model's housekeeping calls (device, memory format, eval mode) are no-ops.
    def to(self, *args: object, **kwargs: object) -> OnnxModel:
        return self

    def eval(self) -> OnnxModel:
        return self


def _exported_beside(model_path: Path) -> Path | None:
    """``<stem>.onnx`` beside a safetensors model when its card says it came from these
    weights (``emoscope export MODEL --onnx`` writes both)."""
    if model_path.suffix not in (".json", ".safetensors"):
        return None
    onnx_path = model_path.with_suffix(".onnx")
    weights = model_path.with_suffix(".safetensors")
    if not onnx_path.is_file() or not weights.is_file():
        return None
    entry = read_card(onnx_path).extra.get("onnx", {})
    if entry.get("weights_sha256") != weights_digest(weights):
        log.warning("%s was exported from other weights; exporting again in memory", onnx_path)
        return None
    return onnx_path


def load_onnx(name_or_path: str | Path | None, task: str = "face_expression",
              device: str = "cpu", threads: int = 0) -> tuple[OnnxModel, ModelCard]:
    """An ``.onnx`` export, or any model (shipped name, safetensors, checkpoint) exported in
    memory when no up-to-date ``.onnx`` lies beside it."""
    from emoscope.models.zoo import load, resolve_model_path

    if name_or_path is not None and Path(name_or_path).suffix == ".onnx":
        onnx_path: Path | None = Path(name_or_path)
        if not onnx_path.is_file():
            raise UserError(f"{onnx_path}: ONNX model not found")
    else:
        onnx_path = _exported_beside(resolve_model_path(name_or_path, task))
    if onnx_path is not None:
        card = read_card(onnx_path)
        if "onnx" not in card.extra:
            raise UserError(f"{onnx_path.with_suffix('.json')}: card has no 'onnx' entry "
                            "(export with: emoscope export MODEL --onnx)")
        return OnnxModel(make_session(onnx_path, device, threads), card, str(onnx_path)), card
    model, card = load(name_or_path, task=task)
    log.info("exporting %s to ONNX in memory (emoscope export %s --onnx keeps the file)",
             card.name, name_or_path or card.name)
    data, entry = onnx_bytes(model, card)
    card.extra = {**card.extra, "onnx": entry}
    return OnnxModel(make_session(data, device, threads), card), card
