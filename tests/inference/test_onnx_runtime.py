"""``runtime="onnx"`` in analysis and evaluation: the same answers as PyTorch, from an export
beside the model when it is up to date, else from one made in memory."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emoscope.errors import UserError
from emoscope.evaluation.evaluate import evaluate_model
from emoscope.inference.analyze import AnalyzeOptions, run_analysis
from emoscope.inference.onnx_backend import load_onnx
from emoscope.inference.writers import read_table
from emoscope.models.files.checkpoint import load_model, save_model
from emoscope.models.files.onnx_export import export_onnx
from synthetic_faces import write_fer2013_folders

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def photo(tmp_path, astronaut_rgb):
    path = tmp_path / "in" / "astronaut.jpg"
    path.parent.mkdir()
    Image.fromarray(astronaut_rgb).save(path)
    return path


def _analyse(inputs, out, model, runtime):
    report = run_analysis([str(p) for p in inputs], AnalyzeOptions(
        out=str(out), model=str(model), runtime=runtime, plots=False, fps=6))
    assert report.analysed == len(inputs), report.errors
    return [read_table(out / f"{p.stem}.csv") for p in inputs]


def test_analysis_with_onnx_matches_torch(tmp_path, photo, face_video, tiny_va_model_path,
                                         record_property):
    inputs = [photo, face_video]
    torch_tables = _analyse(inputs, tmp_path / "torch", tiny_va_model_path, "torch")
    onnx_tables = _analyse(inputs, tmp_path / "onnx", tiny_va_model_path, "onnx")
    assert len(torch_tables[1]) >= 10  # a real video of faces, not an empty table
    for expected, got in zip(torch_tables, onnx_tables, strict=True):
        assert list(got.columns) == list(expected.columns)
        assert {"valence", "arousal", "p_happy"} <= set(got.columns)
        exact = ["source", "frame", "track_id", "x1", "y1", "x2", "y2", "top_label"]
        assert got[exact].equals(expected[exact])
        scores = [c for c in expected.columns if c.startswith("p_")] + ["valence", "arousal"]
        diff = np.abs(got[scores].to_numpy() - expected[scores].to_numpy()).max()
        record_property(f"max_abs_diff_{Path(got['source'].iloc[0]).name}", float(diff))
        assert diff < 1e-5


def test_predictor_outputs_match_on_real_face_crops(astronaut_rgb, tiny_va_model_path,
                                                    record_property):
    """Unrounded predictor outputs (the tables above are written with 6 digits)."""
    from emoscope.faces.detectors.base import FaceBox
    from emoscope.inference.demo import ASTRONAUT_FACE
    from emoscope.inference.predictor import FacePredictor

    boxes = [FaceBox(*(v + shift for v in ASTRONAUT_FACE)) for shift in range(-20, 21, 4)]
    torch_predictor = FacePredictor.from_name(tiny_va_model_path, batch_size=4)
    onnx_predictor = FacePredictor.from_name(tiny_va_model_path, runtime="onnx", batch_size=4)
    crops = torch_predictor.crops(astronaut_rgb, boxes)
    expected, got = torch_predictor.predict(crops), onnx_predictor.predict(crops)
    assert got.probabilities.shape == (11, 7) and got.valence_arousal.shape == (11, 2)
    diff = max(np.abs(got.probabilities - expected.probabilities).max(),
               np.abs(got.valence_arousal - expected.valence_arousal).max())
    record_property("max_abs_diff", float(diff))
    assert 0 < np.ptp(expected.probabilities[:, 3]) and diff < 1e-5  # crops differ; runtimes agree


def test_export_beside_the_model_is_used_until_the_weights_change(tmp_path, tiny_model_path,
                                                                  caplog):
    model_json = tmp_path / "m.json"
    shutil.copy(tiny_model_path, tmp_path / "m.safetensors")
    shutil.copy(tiny_model_path.with_suffix(".json"), model_json)
    model, card = load_model(model_json)
    assert load_onnx(model_json)[0].source == "memory"  # nothing exported yet
    export_onnx(model, card, tmp_path / "m.onnx", source_weights=tmp_path / "m.safetensors")
    onnx_model, onnx_card = load_onnx(model_json)
    assert onnx_model.source == str(tmp_path / "m.onnx")
    assert onnx_card.extra["onnx"]["outputs"] == ["logits"]
    assert load_model(model_json)[1].label_space == card.label_space  # torch still loads
    for param in model.parameters():  # retrained weights: the old export must not be used
        param.data.add_(0.01)
    save_model(model, card, tmp_path / "m")
    with caplog.at_level(logging.WARNING):
        assert load_onnx(model_json)[0].source == "memory"
    assert "exported from other weights" in caplog.text


def test_evaluation_with_onnx_scores_the_known_answer(tmp_path, bar_oracle_path):
    data = write_fer2013_folders(tmp_path / "fer", train_per_class=1, test_per_class=5,
                                 wrong_test=1)  # the oracle scores 28/35
    reports = {runtime: evaluate_model(bar_oracle_path, "fer2013", data.root, "test",
                                       cache_dir=None, runtime=runtime)
               for runtime in ("torch", "onnx")}
    assert reports["onnx"]["accuracy"] == pytest.approx(0.8) == reports["torch"]["accuracy"]
    assert reports["onnx"]["confusion_matrix"] == reports["torch"]["confusion_matrix"]
    assert reports["onnx"]["runtime"] == "onnx"


def test_unknown_runtime_is_a_user_error(photo, tiny_model_path):
    with pytest.raises(UserError, match="unknown runtime 'tensorrt'; use auto, torch or onnx"):
        run_analysis([str(photo)], AnalyzeOptions(model=str(tiny_model_path),
                                                  runtime="tensorrt", plots=False))


@pytest.mark.slow
@pytest.mark.shared_data
def test_shipped_model_parity_on_real_fer2013_faces(shared_data, record_property):
    """The shipped model on 256 real PublicTest faces: ONNX Runtime agrees with PyTorch."""
    from emoscope.evaluation.evaluate import predict_probabilities
    from emoscope.models.files import zoo

    root = shared_data / "fer2013" / "test"
    files = sorted(root.glob("*/*.jpg"))[::14][:256]
    images = np.stack([np.asarray(Image.open(f).convert("L")) for f in files])
    model, card = zoo.load("fer2013-lite0")
    onnx_model, onnx_card = load_onnx("fer2013-lite0")
    expected = predict_probabilities(model, card, images)
    got = predict_probabilities(onnx_model, onnx_card, images)
    assert len(files) == 256 and got.shape == (256, 7)
    diff = float(np.abs(got - expected).max())
    record_property("max_abs_diff", diff)  # 4.7e-06 when measured (junit report)
    assert diff < 1e-4
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.998  # only exact ties may differ
