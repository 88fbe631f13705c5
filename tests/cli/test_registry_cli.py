"""`emoscope list KIND` and `emoscope models`: names one per line, scores from the cards."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from emoscope.cli.main import app
from emoscope.models.files.zoo import WEIGHTS_DIR

runner = CliRunner()


def listed(kind: str) -> list[str]:
    result = runner.invoke(app, ["list", kind])
    assert result.exit_code == 0, result.output
    return result.output.split()


def test_list_prints_registered_names_one_per_line():
    assert {"mediapipe", "opencv", "mtcnn"} <= set(listed("detectors"))
    fusions = {"simple", "weighted", "attention", "bilinear", "bottleneck",
               "cross_modal_transformer", "gated_residual", "hierarchical", "layer_norm",
               "transformation"}
    assert fusions <= set(listed("fusions"))
    assert {"bce", "discrete", "focal", "asl", "dice", "mllsc", "cross_entropy"} <= set(
        listed("losses"))
    assert {"fer2013", "ferplus", "image_folder", "emotic"} <= set(listed("datasets"))
    assert "tf_efficientnet_lite0" in listed("backbones")
    models = listed("models")
    assert {"timm_classifier", "resnet_transformer", "multistream", "fer2013-lite0"} <= set(models)
    assert models == sorted(models)


def test_list_unknown_kind_is_a_user_error():
    result = runner.invoke(app, ["list", "widgets"])
    assert result.exit_code != 0
    assert "known kinds: detectors, backbones" in str(result.exception)


def test_models_shows_the_scores_of_the_shipped_cards():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    card = json.loads((WEIGHTS_DIR / "fer2013-lite0.json").read_text())
    accuracy = card["scores"]["fer2013_publictest_accuracy"]
    assert f"fer2013_publictest_accuracy: {accuracy}" in result.output
    assert "fer2013-lite0" in result.output.splitlines()[0]


def test_study_flags_on_train_route_to_train_emotic():
    from emoscope.cli.main import route_study_flags

    study = ["emoscope", "train", "--context_model", "swin", "--fusion", "weighted"]
    assert route_study_flags(study) == ["emoscope", "train-emotic", *study[2:]]
    with_yaml = ["emoscope", "train", "base.yaml", "--loss", "asl"]
    assert route_study_flags(with_yaml) == ["emoscope", "train-emotic", "--config", "base.yaml",
                                            "--loss", "asl"]
    explicit = ["emoscope", "train", "--config", "b.yml", "--epochs=3"]
    assert route_study_flags(explicit) == ["emoscope", "train-emotic", "--config", "b.yml",
                                           "--epochs=3"]
    plain = ["emoscope", "train", "configs/fer2013_lite0.yaml", "--set", "trainer.max_epochs=1"]
    assert route_study_flags(plain) == plain
    assert route_study_flags(["emoscope", "analyze", "--fusion"]) == ["emoscope", "analyze",
                                                                      "--fusion"]
