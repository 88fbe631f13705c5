"""ONNX export: named outputs, dynamic batch, card copied with an ``onnx`` entry, parity with
PyTorch in ONNX Runtime on random inputs, for single-input, multi-output and multi-stream
models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emoscope.errors import UserError
from emoscope.inference.onnx_backend import OnnxModel, load_onnx
from emoscope.models.files.checkpoint import load_model, read_card
from emoscope.models.files.onnx_export import (
    example_inputs,
    export_onnx,
    input_specs,
    make_session,
    weights_digest,
)
from emoscope.models.multistream import MultiStreamModel, multistream_card

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_multi_output_model_exports_every_output_by_name(tmp_path, tiny_va_model_path):
    model, card = load_model(tiny_va_model_path)
    result = export_onnx(model, card, tmp_path / "va.onnx",
                         source_weights=tiny_va_model_path)
    assert result.max_abs_diff < 1e-4
    entry = json.loads((tmp_path / "va.json").read_text())["extra"]["onnx"]
    assert entry["outputs"] == ["logits", "valence_arousal"]
    assert entry["inputs"] == [{"name": "input", "shape": ["batch", 3, 64, 64]}]
    assert entry["weights_sha256"] == weights_digest(tiny_va_model_path)
    assert entry["parity_max_abs_diff"] == result.max_abs_diff
    session = make_session(result.onnx_path)
    assert [o.name for o in session.get_outputs()] == ["logits", "valence_arousal"]
    onnx_model = OnnxModel(session, read_card(result.onnx_path))
    x = torch.randn(7, 3, 64, 64)  # a batch size never seen at export: the axis is dynamic
    got = onnx_model(x)
    with torch.inference_mode():
        expected = model(x)
    assert set(got) == {"logits", "valence_arousal"}
    assert got["logits"].shape == (7, 7) and got["valence_arousal"].shape == (7, 2)
    for name in got:
        assert torch.allclose(got[name], expected[name], atol=1e-4)


def test_multistream_model_takes_one_input_per_stream_and_the_mask(tmp_path):
    torch.manual_seed(0)
    model = MultiStreamModel(context="tiny_cnn_test", body="tiny_cnn_test", face="tiny_cnn_test",
                             fusion="weighted", fusion_dim=16,
                             head_kwargs={"dropout": 0.0}).eval()
    card = multistream_card(model, "tiny-emotic")
    specs = input_specs(card)
    assert [s.name for s in specs] == [*card.extra["streams"], "stream_mask"]
    result = export_onnx(model, card, tmp_path / "emotic")
    assert result.onnx_path.name == "emotic.onnx" and result.max_abs_diff < 1e-4
    onnx_model = OnnxModel(make_session(result.onnx_path), result.card)
    batch = dict(zip([s.name for s in specs], example_inputs(specs, batch=3, seed=4),
                     strict=True))
    batch["stream_mask"] = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    got = onnx_model(batch)
    with torch.inference_mode():
        expected = model(batch)
    assert set(got) == set(card.outputs) == set(expected)
    for name in expected:  # masked streams change the answer the same way in both runtimes
        assert torch.allclose(got[name], expected[name], atol=1e-4)


def test_dynamo_exporter_agrees_with_torchscript(tmp_path, bar_oracle_path):
    model, card = load_model(bar_oracle_path)
    a = export_onnx(model, card, tmp_path / "ts.onnx")
    b = export_onnx(model, card, tmp_path / "dyn.onnx", exporter="dynamo")
    x = np.random.default_rng(0).normal(size=(4, 3, 48, 48)).astype(np.float32)
    out_a = make_session(a.onnx_path).run(None, {"input": x})[0]
    out_b = make_session(b.onnx_path).run(None, {"input": x})[0]
    assert np.abs(out_a - out_b).max() < 1e-5 and a.max_abs_diff < 1e-5
    assert json.loads(b.card_path.read_text())["extra"]["onnx"]["exporter"] == "dynamo"


def test_bad_exports_and_files_are_one_line_errors(tmp_path, tiny_model_path):
    model, card = load_model(tiny_model_path)
    with pytest.raises(UserError, match="unknown ONNX exporter 'tflite'"):
        export_onnx(model, card, tmp_path / "x.onnx", exporter="tflite")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf")
    with pytest.raises(UserError, match="broken.onnx: not a loadable ONNX model"):
        make_session(broken)
    with pytest.raises(UserError, match="missing.onnx: ONNX model not found"):
        load_onnx(tmp_path / "missing.onnx")
    plain = tmp_path / "plain.onnx"  # an .onnx whose card has no onnx entry
    export_onnx(model, card, plain)
    data = json.loads(plain.with_suffix(".json").read_text())
    del data["extra"]["onnx"]
    plain.with_suffix(".json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="plain.json: card has no 'onnx' entry"):
        load_onnx(plain)
