"""The evaluation report: known numbers on a fixture with known predictions (thresholds
chosen on validation, F1 at them, AP, VA MAE, co-occurrence), the files, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from emoscope.evaluation.report import build_report, choose_thresholds, write_report_files

LABELS = ["a", "b", "c"]


def logit(p):
    p = np.asarray(p, dtype=np.float64)
    return np.log(p / (1 - p))


def known_outputs():
    val = {"categories": logit([[0.9, 0.6, 0.1], [0.8, 0.4, 0.2], [0.3, 0.7, 0.3],
                                [0.2, 0.1, 0.4]]),
           "categories_target": np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]], float)}
    test = {"categories": logit([[0.85, 0.45, 0.6], [0.5, 0.3, 0.4], [0.95, 0.9, 0.2],
                                 [0.1, 0.2, 0.7]]),
            "categories_target": np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 1, 1]], float),
            # a valence/arousal head: two outputs against the three VAD ratings
            "vad": np.array([[5, 5], [6, 6], [7, 7], [8, 8]], float),
            "vad_target": np.array([[5, 6, 1], [6, 6, 1], [7, 9, 1], [8, 8, 1]], float)}
    return val, test


def test_thresholds_maximise_validation_f1():
    val, _ = known_outputs()
    scores = 1 / (1 + np.exp(-val["categories"]))
    np.testing.assert_allclose(choose_thresholds(scores, val["categories_target"]),
                               [0.8, 0.4, 0.5], atol=1e-6)  # c: no positives -> 0.5


def test_report_numbers_and_files_on_known_predictions(tmp_path):
    val, test = known_outputs()
    report = build_report(test, val, LABELS, meta={"model": "known", "split": "test",
                                                   "val_split": "val", "dataset": "emotic"})
    rows = report["thresholds"]["per_class"]
    # a @0.8: predicted [1,0,1,0] vs [1,1,0,0]; b @0.4: [1,0,1,0] vs [1,0,1,1];
    # c @0.5: [1,0,0,1] vs [0,0,0,1]
    assert (rows["a"]["precision"], rows["a"]["recall"], rows["a"]["f1"]) == pytest.approx(
        (0.5, 0.5, 0.5))
    assert (rows["b"]["precision"], rows["b"]["recall"], rows["b"]["f1"]) == pytest.approx(
        (1.0, 2 / 3, 0.8))
    assert (rows["c"]["precision"], rows["c"]["recall"], rows["c"]["f1"]) == pytest.approx(
        (0.5, 1.0, 2 / 3))
    assert [rows[k]["support"] for k in LABELS] == [2, 3, 1]
    assert report["thresholds"]["micro_f1"] == pytest.approx(2 / 3)  # TP 4, FP 2, FN 2
    assert report["thresholds"]["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert report["per_class"]["a"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert report["vad_mae"] == pytest.approx({"valence": 0.0, "arousal": 0.75, "mean": 0.375})
    assert report["cooccurrence"] == [[2, 1, 0], [1, 3, 1], [0, 1, 1]]
    assert "validation split (val)" in report["threshold_rule"]

    paths = write_report_files(report, test, tmp_path / "report")
    stored = json.loads(paths["json"].read_text())
    assert stored["thresholds"]["per_class"]["b"]["f1"] == pytest.approx(0.8)
    text = paths["markdown"].read_text()
    assert "| b | 91.67 | 0.400 | 1.000 | 0.667 | 0.800 | 3 |" in text
    assert "MAE arousal: 0.7500" in text and "micro 0.6667" in text
    for key in ("per-class AP", "PR curves", "label co-occurrence"):
        with Image.open(paths[key]) as image:
            assert image.format == "PNG" and min(image.size) > 100
        assert f"]({paths[key].name})" in text


def test_evaluate_cli_writes_the_report(tmp_path):
    from typer.testing import CliRunner

    from emoscope.cli.main import app
    from emotic_fixtures import make_images, write_face_cache, write_layout
    from untrained_emotic import save_untrained_emotic

    images = make_images({"train": 4, "val": 2, "test": 2}, seed=1)
    root = write_layout("preprocessed", tmp_path / "emotic_pre", images)
    write_face_cache(root, images)
    model = save_untrained_emotic(root, tmp_path / "run")
    result = CliRunner().invoke(app, ["evaluate", "--dataset", "emotic", "--root", str(root),
                                      "--model", str(model.with_suffix(".json")),
                                      "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "eval" / "report" / "report.json").read_text())
    basic = json.loads((tmp_path / "eval" / "evaluation_metrics.json").read_text())
    assert report["n"] == basic["n"] == 4 and report["mAP"] == pytest.approx(basic["mAP"])
    assert report["val_split"] == "val" and len(report["thresholds"]["per_class"]) == 26
    assert (tmp_path / "eval" / "report" / "pr_curves.png").is_file()
