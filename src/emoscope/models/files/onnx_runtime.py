"""Models in ONNX Runtime without torch: a session that answers like the PyTorch model does.

``OnnxModel`` takes what the PyTorch model takes (one array, or a mapping of named stream
arrays) and returns what it returns (a dict of named outputs, or one array): numpy arrays for
numpy input, torch tensors for torch input, so the torch-free analysis path and the evaluation
code that works in tensors run the same object.

A model file can have its graph beside it in two forms:

- ``emoscope export MODEL --onnx`` writes a self-contained ``<stem>.onnx`` and a card with an
  ``onnx`` entry (``extra.onnx``, tied to the weights by their sha256);
- a shipped model (``emoscope/weights``) has ``<stem>.onnx`` holding the graph only: every
  weight refers by offset into ``<stem>.safetensors`` (ONNX external data), so both runtimes
  load the same stored weights and the package carries them once. The graph's metadata holds
  a digest of the safetensors layout (names, dtypes, shapes, offsets) it was written against;
  a weights file of another layout is refused rather than read at wrong offsets.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.errors import UserError
from emoscope.models.files.checkpoint import ModelCard, read_card

log = logging.getLogger(__name__)

LAYOUT_KEY = "emoscope.weights_layout"  # graph metadata: digest of the safetensors layout
RETURNS_DICT_KEY = "emoscope.returns_dict"


def make_session(model: bytes | str | Path, device: str = "cpu", threads: int = 0):
    """An ONNX Runtime session on the CPU (or CUDA when asked and available). ``threads`` 0
    uses torch's thread count when torch is loaded, else ONNX Runtime's default (one per
    physical core). Idle worker threads wait passively, as torch's do."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if not threads and "torch" in sys.modules:
        threads = sys.modules["torch"].get_num_threads()
    options.intra_op_num_threads = int(threads or 0)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about unused initializers are not the user's
    providers = ["CPUExecutionProvider"]
    if str(device).startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise UserError(f"device '{device}': this onnxruntime has no CUDA provider; use "
                            "--device cpu or install onnxruntime-gpu")
        providers.insert(0, "CUDAExecutionProvider")
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, options, providers=providers)
    except Exception as err:  # onnxruntime raises its own exception types for bad files
        where = "<bytes>" if isinstance(model, bytes) else str(model)
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else "unreadable"
        raise UserError(f"{where}: not a loadable ONNX model ({reason})") from None


def _is_torch(value: object) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _as_array(value: Any) -> np.ndarray:
    if _is_torch(value):
        value = value.detach().float().cpu().contiguous().numpy()
    return np.ascontiguousarray(value, dtype=np.float32)


class OnnxModel:
    """The model of an ONNX graph behind the PyTorch model's calling convention."""

    def __init__(self, session, card: ModelCard, source: str = "memory",
                 returns_dict: bool | None = None):
        self.session = session
        self.source = source  # the .onnx file, or "memory" for an export made on loading
        self.card = card
        self.input_names = [i.name for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]
        if returns_dict is None:
            returns_dict = bool(card.extra.get("onnx", {}).get("returns_dict", True))
        self.returns_dict = returns_dict

    def _feed(self, inputs: Any) -> dict[str, np.ndarray]:
        if isinstance(inputs, Mapping):
            batch = len(next(iter(inputs.values())))
            feed = {}
            for name in self.input_names:
                value = inputs.get(name)
                if value is None and name == "stream_mask":
                    value = np.ones((batch, len(self.input_names) - 1), np.float32)
                if value is None:
                    raise UserError(f"ONNX model '{self.card.name}' needs input '{name}'")
                feed[name] = _as_array(value)
            return feed
        array = _as_array(inputs)
        rank = len(self.session.get_inputs()[0].shape)
        if array.ndim == rank - 1:  # a (N, F, T) spectrogram for an (N, 1, F, T) input
            array = array[:, None]
        return {self.input_names[0]: array}

    def run(self, inputs: Any) -> dict[str, np.ndarray]:
        """Every output by name, as numpy arrays."""
        outputs = self.session.run(None, self._feed(inputs))
        return dict(zip(self.output_names, outputs, strict=True))

    def __call__(self, inputs: Any) -> Any:
        outputs = self.run(inputs)
        first = next(iter(inputs.values())) if isinstance(inputs, Mapping) else inputs
        if _is_torch(first):
            torch = sys.modules["torch"]
            outputs = {name: torch.from_numpy(value) for name, value in outputs.items()}
        if not self.returns_dict:
            return next(iter(outputs.values()))
        return outputs

    # The torch model's housekeeping calls (device, memory format, eval mode) are no-ops.
    def to(self, *args: object, **kwargs: object) -> OnnxModel:
        return self

    def eval(self) -> OnnxModel:
        return self


def safetensors_layout(path: str | Path) -> tuple[int, dict[str, dict[str, Any]]]:
    """(byte offset of the data, the header's tensor table) of a safetensors file."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = struct.unpack("<Q", handle.read(8))[0]
            if size > 100_000_000:
                raise ValueError("header too large")
            header = json.loads(handle.read(size))
    except (OSError, ValueError, struct.error) as err:
        raise UserError(f"{path}: not a readable safetensors file ({err})") from None
    header.pop("__metadata__", None)
    return 8 + size, header


def layout_digest(path: str | Path) -> str:
    """sha256 of a safetensors file's tensor table: equal for any weights of one architecture
    stored in one precision, so a graph written against it reads any retrained weights."""
    _, header = safetensors_layout(path)
    text = json.dumps(header, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def graph_beside(model_path: Path) -> Path | None:
    """``<stem>.onnx`` beside a model card or its weights, if there is one."""
    if model_path.suffix not in (".json", ".safetensors"):
        return None
    onnx_path = model_path.with_suffix(".onnx")
    return onnx_path if onnx_path.is_file() else None


def weights_digest(path: str | Path) -> str:
    """sha256 of a weights file: ties an exported ``.onnx`` to the weights it came from."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _open_shared_graph(onnx_path: Path, card: ModelCard, device: str,
                       threads: int) -> OnnxModel | None:
    """A graph whose weights live in the safetensors beside it, when its layout matches."""
    weights = onnx_path.with_suffix(".safetensors")
    if not weights.is_file():
        return None
    try:
        session = make_session(onnx_path, device, threads)
    except UserError:  # offsets beyond the end of these weights: written for others
        log.warning("%s was written for weights of another layout; not used", onnx_path)
        return None
    meta = session.get_modelmeta().custom_metadata_map
    if LAYOUT_KEY not in meta:  # a self-contained export whose card no longer names it
        log.warning("%s was exported from other weights; exporting again in memory", onnx_path)
        return None
    if meta[LAYOUT_KEY] != layout_digest(weights):
        log.warning("%s was written for weights of another layout; not used", onnx_path)
        return None
    returns_dict = meta.get(RETURNS_DICT_KEY, "true") == "true"
    return OnnxModel(session, card, str(onnx_path), returns_dict)


def _open_exported_graph(onnx_path: Path, device: str, threads: int,
                         weights: Path | None) -> tuple[OnnxModel, ModelCard] | None:
    """A self-contained export (card with an ``onnx`` entry); None when it was exported from
    other weights than ``weights``."""
    card = read_card(onnx_path)
    entry = card.extra.get("onnx")
    if entry is None:
        raise UserError(f"{onnx_path.with_suffix('.json')}: card has no 'onnx' entry "
                        "(export with: emoscope export MODEL --onnx)")
    if weights is not None and weights.is_file() and "weights_sha256" in entry:
        if entry["weights_sha256"] != weights_digest(weights):
            log.warning("%s was exported from other weights; exporting again in memory",
                        onnx_path)
            return None
    return OnnxModel(make_session(onnx_path, device, threads), card, str(onnx_path)), card


def open_graph(model_path: Path, device: str = "cpu",
               threads: int = 0) -> tuple[OnnxModel, ModelCard] | None:
    """The ONNX graph of a model file: the file itself when it is an ``.onnx``, else the graph
    beside its card (shipped, or written by ``emoscope export --onnx``); None when there is no
    usable one."""
    if model_path.suffix == ".onnx":
        if not model_path.is_file():
            raise UserError(f"{model_path}: ONNX model not found")
        return _open_exported_graph(model_path, device, threads, None)
    onnx_path = graph_beside(model_path)
    if onnx_path is None:
        return None
    card = read_card(model_path)
    if "onnx" not in card.extra:  # the card is the model's own: a shared-weights graph
        model = _open_shared_graph(onnx_path, card, device, threads)
        return None if model is None else (model, card)
    return _open_exported_graph(onnx_path, device, threads, model_path.with_suffix(".safetensors"))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, as ``torch.softmax(x, dim=1)``."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float32)
    return (0.5 * (np.tanh(0.5 * logits) + 1.0)).astype(np.float32)
