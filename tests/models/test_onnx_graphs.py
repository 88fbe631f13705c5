"""Graphs whose weights stay in the safetensors file: written, loaded on ONNX Runtime by the
loader, equal to PyTorch, float16 storage included, and refused for another weight layout."""

from __future__ import annotations

import logging

import numpy as np
import torch

from emoscope.models.files.checkpoint import load_model, save_model
from emoscope.models.files.loading import load_for_inference, predict_softmax
from emoscope.models.files.onnx_graphs import write_shared_graph
from emoscope.models.files.onnx_runtime import LAYOUT_KEY


def test_float16_model_graph_reads_its_weights_from_safetensors(tmp_path, tiny_va_model_path):
    model, card = load_model(tiny_va_model_path)
    weights = save_model(model, card, tmp_path / "half", precision="float16")
    result = write_shared_graph(weights)
    assert result.onnx_path == tmp_path / "half.onnx" and result.max_abs_diff < 1e-4
    assert result.graph_bytes < weights.stat().st_size / 10  # the graph holds no weights
    loaded = load_for_inference(tmp_path / "half.json")
    assert loaded.runtime == "onnx" and loaded.source == str(result.onnx_path)
    meta = loaded.network.session.get_modelmeta().custom_metadata_map
    assert LAYOUT_KEY in meta
    reference = load_for_inference(tmp_path / "half.json", runtime="torch")
    batch = list(np.random.default_rng(0).uniform(-1, 1, (5, 3, 64, 64)).astype(np.float32))
    got, expected = (predict_softmax(m.network, batch) for m in (loaded, reference))
    assert np.abs(got - expected).max() < 1e-5
    outputs = loaded.network.run(np.stack(batch))
    assert set(outputs) == {"logits", "valence_arousal"}


def test_retrained_weights_of_the_same_layout_keep_the_graph(tmp_path, tiny_model_path, caplog):
    model, card = load_model(tiny_model_path)
    write_shared_graph(save_model(model, card, tmp_path / "m"))
    for param in model.parameters():  # retrained: same architecture, same precision
        param.data.add_(0.05)
    save_model(model, card, tmp_path / "m")
    loaded = load_for_inference(tmp_path / "m.json")
    assert loaded.runtime == "onnx"  # the graph reads the new weights at the same offsets
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        expected = model.eval()(x)["logits"].softmax(1).numpy()
    assert np.abs(predict_softmax(loaded.network, list(x.numpy())) - expected).max() < 1e-5
    save_model(model, card, tmp_path / "m", precision="float16")  # another layout
    with caplog.at_level(logging.WARNING):
        fallback = load_for_inference(tmp_path / "m.json")
    assert "weights of another layout" in caplog.text
    assert fallback.runtime == "torch"  # auto: no usable graph, torch is installed
