"""Visual review: per-sample metrics and picks on known scores; grid and sheets render for a
saved EMOTIC model through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from emoscope.errors import UserError
from emoscope.evaluation.review import pick_samples, sample_metrics

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def known():
    scores = np.array([[0.9, 0.1, 0.2],    # right: AP 1
                       [0.1, 0.9, 0.95],   # true label ranked last: AP 1/3
                       [0.6, 0.7, 0.1],    # AP 1/2
                       [0.99, 0.2, 0.3]])  # right and sure: AP 1
    targets = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]], float)
    va_pred = np.array([[5, 5], [5, 5], [5, 5], [6, 6]], float)
    va_true = np.array([[5, 6], [5, 5], [5, 5], [5, 5]], float)
    return scores, targets, va_pred, va_true


def test_sample_metrics_and_picks():
    scores, targets, va_pred, va_true = known()
    metrics = sample_metrics(scores, targets, np.full(3, 0.5), va_pred, va_true)
    np.testing.assert_allclose(metrics["sample_ap"], [1, 1 / 3, 1 / 2, 1])
    np.testing.assert_allclose(metrics["f1"], [1, 0, 2 / 3, 1])  # 0.5 thresholds
    np.testing.assert_allclose(metrics["va_error"], [0.5, 0, 0, 1])
    assert pick_samples(metrics, "worst", 2).tolist() == [1, 2]
    assert pick_samples(metrics, "best", 2).tolist() == [0, 3]  # AP ties: smaller VA error
    assert pick_samples(metrics, "confident", 1).tolist() == [3]
    assert sorted(pick_samples(metrics, "random", 4, seed=1).tolist()) == [0, 1, 2, 3]
    with pytest.raises(UserError, match="unknown review mode 'wrost'"):
        pick_samples(metrics, "wrost", 1)


def test_review_cli_renders_grid_and_sheets(tmp_path):
    from typer.testing import CliRunner

    from emoscope.cli.main import app
    from emotic_fixtures import make_images, write_face_cache, write_layout
    from untrained_emotic import save_untrained_emotic

    images = make_images({"train": 4, "val": 2, "test": 3}, seed=3)
    root = write_layout("mat", tmp_path / "emotic", images)
    write_face_cache(root, images)
    model = save_untrained_emotic(root, tmp_path / "run")
    out = tmp_path / "review"
    result = CliRunner().invoke(app, ["review", "--model", str(model.with_suffix(".json")),
                                      "--root", str(root), "--pick", "worst", "--n", "3",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "review.json").read_text())
    assert [e["rank"] for e in summary["samples"]] == [0, 1, 2]
    aps = [e["sample_ap"] for e in summary["samples"]]
    assert aps == sorted(aps)  # worst first
    assert all(0 <= e["va_pred"][0] <= 11 and len(e["va_true"]) == 2
               for e in summary["samples"])
    for name in ["grid.png"] + [e["sheet"] for e in summary["samples"]]:
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.size[0] > 300
            assert len(set(image.convert("L").getdata())) > 20  # something was drawn
    bad = CliRunner().invoke(app, ["review", "--model", str(model.with_suffix(".json")),
                                   "--root", str(root), "--pick", "median"])
    assert bad.exit_code != 0
