"""``emoscope export MODEL --onnx`` and ``--runtime onnx`` through the CLI, with their error
lines."""

from __future__ import annotations

import json

import pytest

from cli_runner import run_cli
from emoscope.models.files.onnx_export import weights_digest
from emoscope.models.files.zoo import WEIGHTS_DIR
from synthetic_faces import write_fer2013_folders

pytestmark = pytest.mark.usefixtures("one_torch_thread")




@pytest.mark.slow
def test_export_shipped_model(monkeypatch, capsys, tmp_path):
    code, out, err = run_cli(monkeypatch, capsys, "export", "fer2013-lite0", "--onnx",
                             "--out", tmp_path / "lite0.onnx")
    assert code == 0, err
    card = json.loads((tmp_path / "lite0.json").read_text())
    entry = card["extra"]["onnx"]
    assert entry["weights_sha256"] == weights_digest(WEIGHTS_DIR / "fer2013-lite0.safetensors")
    assert entry["parity_max_abs_diff"] < 1e-4 and entry["inputs"][0]["shape"][0] == "batch"
    assert card["label_space"]["labels"][3] == "happy" and card["scores"]  # the card travels
    assert f"onnx: {tmp_path / 'lite0.onnx'}" in out and "max |onnx - torch|" in out


def test_export_beside_a_trained_model_then_evaluate_with_onnx(monkeypatch, capsys, tmp_path,
                                                               bar_oracle_path):
    import shutil

    model = tmp_path / "model.safetensors"
    shutil.copy(bar_oracle_path, model)
    shutil.copy(bar_oracle_path.with_suffix(".json"), tmp_path / "model.json")
    code, out, err = run_cli(monkeypatch, capsys, "export", model, "--onnx")
    assert code == 0, err
    assert (tmp_path / "model.onnx").is_file()
    data = write_fer2013_folders(tmp_path / "fer", train_per_class=1, test_per_class=5,
                                 wrong_test=1)
    code, out, err = run_cli(monkeypatch, capsys, "evaluate", "--model", tmp_path / "model.json",
                             "--root", data.root, "--runtime", "onnx", "--json",
                             tmp_path / "r.json")
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["accuracy"] == pytest.approx(0.8) and report["runtime"] == "onnx"


@pytest.mark.parametrize(("args", "message"), [
    (["export", "fer2013-lite0"], "error: choose an export format: --onnx"),
    (["export", "fer2013-lite0", "--onnx", "--out", "x.pt"],
     "error: x.pt: the output path must end in .onnx"),
    (["export", "no-such-model", "--onnx"], "error: unknown model 'no-such-model'"),
    (["analyze", "nothing.jpg", "--runtime", "tflite"], "error: unknown runtime 'tflite'"),
])
def test_bad_export_and_runtime_arguments(monkeypatch, capsys, tmp_path, args, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_export_a_training_checkpoint(monkeypatch, capsys, tmp_path, bar_oracle_path):
    import torch

    from emoscope.inference.onnx_backend import load_onnx
    from emoscope.models.files.checkpoint import load_model

    model, card = load_model(bar_oracle_path)
    ckpt = tmp_path / "checkpoints" / "best.ckpt"
    ckpt.parent.mkdir()
    torch.save({"emoscope_card": card.to_dict(),
                "state_dict": {f"network.{k}": v for k, v in model.state_dict().items()}}, ckpt)
    code, out, err = run_cli(monkeypatch, capsys, "export", ckpt, "--onnx")
    assert code == 0, err
    onnx_model, onnx_card = load_onnx(tmp_path / "checkpoints" / "best.onnx")
    assert onnx_card.name == card.name and "weights_sha256" not in onnx_card.extra["onnx"]
    x = torch.rand(3, 3, 48, 48)
    assert torch.allclose(onnx_model(x)["logits"], model(x)["logits"], atol=1e-5)


def test_webcam_headless_with_onnx(monkeypatch, capsys, face_video, tiny_model_path):
    code, out, err = run_cli(monkeypatch, capsys, "webcam", "--source", face_video,
                             "--no-window", "--max-frames", "3", "--model", tiny_model_path,
                             "--runtime", "onnx")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("source,frame,time_s,track_id") and len(lines) == 4
