"""ONNX graphs whose weights stay in the model's safetensors file (export side: needs torch and
the ``onnx`` package, ``pip install 'emoscope[train,onnx]'``).

``write_shared_graph`` exports a model with every weight kept as it is stored (no folding),
then turns each initializer into ONNX external data: the byte range of the same tensor inside
``<stem>.safetensors``. Tensors stored in float16 (``save_model(precision="float16")``) stay
float16 in the file and get a Cast to float32 in the graph, which ONNX Runtime folds when it
loads. The graph is then loaded from disk in ONNX Runtime and checked against PyTorch.

The shipped models' graphs (``emoscope/weights/<name>.onnx``) are written by
``python -m emoscope.models.files.onnx_graphs`` (all of them) or ``... NAME``; a retrained model of
the same architecture and precision keeps the same layout, so its graph stays valid.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emoscope.errors import UserError
from emoscope.models.files.checkpoint import load_model
from emoscope.models.files.onnx_runtime import (
    LAYOUT_KEY,
    RETURNS_DICT_KEY,
    layout_digest,
    make_session,
    safetensors_layout,
)

log = logging.getLogger(__name__)

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


@dataclass
class SharedGraph:
    """What ``write_shared_graph`` wrote and how closely ONNX Runtime matched PyTorch."""

    onnx_path: Path
    graph_bytes: int
    max_abs_diff: float


def _stored_tensors(weights: Path) -> dict[str, tuple[np.ndarray, int, int]]:
    """name -> (array, byte offset in the file, byte length) of every tensor in ``weights``."""
    start, header = safetensors_layout(weights)
    raw = np.memmap(weights, dtype=np.uint8, mode="r")
    tensors = {}
    for name, info in header.items():
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            continue
        begin, end = (start + int(v) for v in info["data_offsets"])
        array = np.frombuffer(raw[begin:end], dtype=dtype).reshape(info["shape"])
        tensors[name] = (array, begin, end - begin)
    return tensors


def _stored_match(name: str, value: np.ndarray, stored: dict) -> str | None:
    """The stored tensor an initializer holds: by name (the export prefixes ``model.``) when the
    values agree, else the first tensor of the same shape and values."""
    candidates = [name.removeprefix("model."), name]
    candidates += [k for k, (a, _, _) in stored.items() if a.shape == value.shape]
    for key in candidates:
        if key in stored and stored[key][0].shape == value.shape and np.array_equal(
                stored[key][0].astype(value.dtype), value):
            return key
    return None


def _point_into_safetensors(graph_model, weights: Path) -> int:
    """Rewrite initializers as external data in ``weights``; returns how many."""
    import onnx
    from onnx import helper, numpy_helper

    stored = _stored_tensors(weights)
    casts, moved = [], 0
    for tensor in graph_model.graph.initializer:
        value = numpy_helper.to_array(tensor)
        key = _stored_match(tensor.name, value, stored) if value.size > 16 else None
        if key is None:
            continue
        array, offset, length = stored[key]
        if array.dtype != value.dtype:  # float16 on disk: a Cast gives the float32 the graph uses
            if array.dtype != np.float16 or value.dtype != np.float32:
                continue
            name = tensor.name
            tensor.name = f"{name}__float16"
            tensor.data_type = onnx.TensorProto.FLOAT16
            casts.append(helper.make_node("Cast", [tensor.name], [name], to=onnx.TensorProto.FLOAT))
        tensor.ClearField("raw_data")
        tensor.ClearField("float_data")
        del tensor.external_data[:]
        for k, v in (("location", weights.name), ("offset", str(offset)),
                     ("length", str(length))):
            tensor.external_data.add(key=k, value=v)
        tensor.data_location = onnx.TensorProto.EXTERNAL
        moved += 1
    nodes = list(graph_model.graph.node)
    del graph_model.graph.node[:]
    graph_model.graph.node.extend([*casts, *nodes])
    return moved


def write_shared_graph(model_path: str | Path, opset: int = 18) -> SharedGraph:
    """Write ``<stem>.onnx`` beside a safetensors model, its weights read from that file."""
    import onnx
    import torch

    from emoscope.models.files.onnx_export import input_specs, onnx_bytes, parity

    model_path = Path(model_path)
    weights = model_path.with_suffix(".safetensors")
    if not weights.is_file():
        raise UserError(f"{weights}: weights file not found")
    model, card = load_model(model_path)
    data, entry = onnx_bytes(model, card, opset, keep_weights=True)
    graph_model = onnx.load_from_string(data)
    moved = _point_into_safetensors(graph_model, weights)
    for key, value in ((LAYOUT_KEY, layout_digest(weights)),
                       (RETURNS_DICT_KEY, "true" if entry["returns_dict"] else "false"),
                       ("emoscope.torch", torch.__version__)):
        graph_model.metadata_props.add(key=key, value=value)
    onnx_path = weights.with_suffix(".onnx")
    graph = graph_model.SerializeToString()
    onnx_path.write_bytes(graph)
    session = make_session(onnx_path)
    cases = None
    if "audio" in card.extra:  # windows shorter and longer than the card's input
        generator = torch.Generator().manual_seed(0)
        shape = input_specs(card)[0].shape
        cases = [[torch.randn(n, *shape[:-1], t, generator=generator)]
                 for n, t in ((1, shape[-1]), (3, 101), (2, shape[-1] + 57))]
    diff = parity(model, card, session, inputs=cases)
    log.info("%s: %d weights read from %s, graph %d bytes, max |onnx - torch| = %.3g",
             onnx_path, moved, weights.name, len(graph), diff)
    return SharedGraph(onnx_path, len(graph), diff)


def main(argv: list[str] | None = None) -> None:
    """Write the shipped models' graphs (all, or those named)."""
    from emoscope.models.files.zoo import WEIGHTS_DIR, shipped_names

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("names", nargs="*", help="shipped model names (default: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in args.names or shipped_names():
        result = write_shared_graph(WEIGHTS_DIR / f"{name}.json")
        print(f"{result.onnx_path.name}: {result.graph_bytes} bytes, "
              f"max |onnx - torch| {result.max_abs_diff:.3g}")


if __name__ == "__main__":
    main()
