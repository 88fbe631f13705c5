"""Export any model a card builds to ONNX: named inputs from the card's input spec, every
output by name, a dynamic batch axis, and the card copied beside the ``.onnx`` with an
``onnx`` entry (in ``extra``) that ``inference/onnx_backend.py`` reads back.

Two exporters: torch's TorchScript-based one (default: about 0.4 s for a small CNN and 2 s for
EfficientNet-Lite0 here, against 16-18 s for the dynamo one, with the same parity) and the
torch.export-based ``dynamo`` one. Every export is checked against PyTorch in ONNX Runtime.
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emoscope.errors import UserError
from emoscope.models.files.checkpoint import ModelCard
from emoscope.models.files.onnx_runtime import make_session, weights_digest
from emoscope.utils.files import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

EXPORTERS = ("torchscript", "dynamo")
DEFAULT_OPSET = 18
BATCH_AXIS = "batch"


@dataclass(frozen=True)
class InputSpec:
    """One named model input: its shape without the batch axis."""

    name: str
    shape: tuple[int, ...]


TIME_AXIS = "frames"


def input_specs(card: ModelCard) -> list[InputSpec]:
    """The inputs a card's model takes: one tensor of ``preprocessing.input_size`` or, for a
    multi-stream card, one per stream plus the (N, streams) ``stream_mask``."""
    streams = card.extra.get("stream_preprocessing")
    if streams:
        order = list(card.extra.get("streams") or streams)
        specs = [InputSpec(s, tuple(int(v) for v in streams[s]["input_size"])) for s in order]
        return [*specs, InputSpec("stream_mask", (len(order),))]
    return [InputSpec("input", tuple(int(v) for v in card.preprocessing.input_size))]


class _NamedOutputs(nn.Module):
    """Positional tensors in, a tuple of the card's outputs out (what ONNX export needs)."""

    def __init__(self, model: nn.Module, specs: list[InputSpec], outputs: list[str]):
        super().__init__()
        self.model = model
        self.names = [s.name for s in specs]
        self.outputs = outputs
        self.as_mapping = len(specs) > 1

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.as_mapping:
            out = self.model(dict(zip(self.names, tensors, strict=True)))
        else:
            out = self.model(tensors[0])
        if isinstance(out, Mapping):
            return tuple(out[name] for name in self.outputs)
        return (out,)


def example_inputs(specs: list[InputSpec], batch: int = 2, seed: int = 0) -> list[torch.Tensor]:
    """Random inputs (normal noise) of the given batch size. A stream mask has one stream
    off in every row after the first: tracing then records the masked path, which is also
    right for full masks (an all-ones mask would be traced as "nothing masked", always)."""
    generator = torch.Generator().manual_seed(seed)
    tensors = []
    for spec in specs:
        if spec.name == "stream_mask":
            mask = torch.ones(batch, *spec.shape)
            for row in range(1, batch):
                mask[row, (row - 1) % spec.shape[0]] = 0.0
            tensors.append(mask)
        else:
            tensors.append(torch.randn(batch, *spec.shape, generator=generator))
    return tensors


@dataclass
class OnnxExport:
    """What ``export_onnx`` wrote and how closely ONNX Runtime matched PyTorch."""

    onnx_path: Path
    card_path: Path
    card: ModelCard
    max_abs_diff: float


def _output_names(model: nn.Module, card: ModelCard, example: list[torch.Tensor],
                  as_mapping: bool) -> tuple[list[str], bool]:
    with torch.inference_mode():
        out = model(dict(zip([s.name for s in input_specs(card)], example, strict=True))
                    if as_mapping else example[0])
    if isinstance(out, Mapping):
        missing = [name for name in card.outputs if name not in out]
        names = [name for name in card.outputs if name in out] + [
            name for name in out if name not in card.outputs]
        if missing:
            log.warning("model '%s' does not return card output(s) %s", card.name, missing)
        return names, True
    return card.outputs[:1] or ["output"], False


def onnx_bytes(model: nn.Module, card: ModelCard, opset: int = DEFAULT_OPSET,
               exporter: str = "torchscript",
               keep_weights: bool = False) -> tuple[bytes, dict[str, Any]]:
    """The ONNX file of ``model`` (in eval mode, on the CPU) and its card's ``onnx`` entry.

    ``keep_weights`` (TorchScript exporter): no constant folding and no batch-norm fusion, so
    every initializer is one of the state dict's tensors, bit for bit (ONNX Runtime folds the
    same constants when it loads the graph); ``models/files/onnx_graphs.py`` then points them into
    the safetensors file."""
    if exporter not in EXPORTERS:
        raise UserError(f"unknown ONNX exporter '{exporter}'; known: {', '.join(EXPORTERS)}")
    model = model.cpu().to(memory_format=torch.contiguous_format).eval()
    specs = input_specs(card)
    example = example_inputs(specs)
    outputs, returns_dict = _output_names(model, card, example, len(specs) > 1)
    wrapper = _NamedOutputs(model, specs, outputs).eval()
    names = [s.name for s in specs]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "You are using the legacy TorchScript-based ONNX")
        # shape checks in Python become constants of the trace: expected, one batch layout
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        if exporter == "torchscript":
            axes = {name: {0: BATCH_AXIS} for name in [*names, *outputs]}
            if "audio" in card.extra:  # speech: windows of any length (the voice timeline)
                axes[names[0]] = {0: BATCH_AXIS, len(specs[0].shape): TIME_AXIS}
            torch.onnx.export(wrapper, tuple(example), buffer, input_names=names,
                              output_names=outputs, dynamic_axes=axes, opset_version=opset,
                              dynamo=False, do_constant_folding=not keep_weights,
                              training=(torch.onnx.TrainingMode.PRESERVE if keep_weights
                                        else torch.onnx.TrainingMode.EVAL))
        else:
            batch = torch.export.Dim(BATCH_AXIS, min=1)
            torch.onnx.export(wrapper, tuple(example), buffer, input_names=names,
                              output_names=outputs,
                              dynamic_shapes=(tuple({0: batch} for _ in names),),
                              opset_version=opset, dynamo=True, external_data=False,
                              verbose=False, report=False)
    entry = {
        "opset": opset, "exporter": exporter, "torch": torch.__version__,
        "inputs": [{"name": s.name, "shape": [BATCH_AXIS, *s.shape]} for s in specs],
        "outputs": outputs, "returns_dict": returns_dict,
    }
    return buffer.getvalue(), entry


def parity(model: nn.Module, card: ModelCard, session, batches: tuple[int, ...] = (1, 5),
           inputs: list[list[torch.Tensor]] | None = None) -> float:
    """Largest absolute difference between PyTorch and an ONNX Runtime session over every
    output, on random inputs of ``batches`` sizes (or the given ``inputs``)."""
    specs = input_specs(card)
    cases = inputs or [example_inputs(specs, n, seed=n) for n in batches]
    model = model.cpu().eval()
    wrapper = _NamedOutputs(model, specs, [o.name for o in session.get_outputs()]).eval()
    worst = 0.0
    for case in cases:
        with torch.inference_mode():
            expected = wrapper(*case)
        feed = {s.name: t.contiguous().numpy() for s, t in zip(specs, case, strict=True)}
        got = session.run(None, feed)
        for ref, out in zip(expected, got, strict=True):
            worst = max(worst, float((ref - torch.from_numpy(out)).abs().max()))
    return worst


def export_onnx(model: nn.Module, card: ModelCard, path: str | Path,
                opset: int = DEFAULT_OPSET, exporter: str = "torchscript",
                source_weights: str | Path | None = None) -> OnnxExport:
    """Write ``<path>.onnx`` and the card ``<path>.json`` (with ``extra.onnx``) atomically,
    after checking the file in ONNX Runtime against PyTorch."""
    path = Path(path)
    onnx_path = path if path.suffix == ".onnx" else path.with_name(path.name + ".onnx")
    data, entry = onnx_bytes(model, card, opset, exporter)
    diff = parity(model, card, make_session(data))
    entry.update(file=onnx_path.name, parity_max_abs_diff=diff)
    if source_weights is not None and Path(source_weights).suffix == ".safetensors":
        entry["weights_sha256"] = weights_digest(source_weights)
    onnx_card = replace(card, extra={**card.extra, "onnx": entry})
    atomic_write_bytes(onnx_path, data)
    card_path = onnx_path.with_suffix(".json")
    atomic_write_text(card_path, json.dumps(onnx_card.to_dict(), indent=2) + "\n")
    log.info("exported %s (%s, opset %d): max |onnx - torch| = %.3g", onnx_path, exporter,
             opset, diff)
    return OnnxExport(onnx_path, card_path, onnx_card, diff)
