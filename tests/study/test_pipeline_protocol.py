"""The pipeline protocol: faces set into frames, found by a detector, scored where placed."""

from __future__ import annotations

import numpy as np
import pytest

from emoscope.data.framing import frame_face
from emoscope.faces.detectors.base import FaceBox, FaceDetector
from emoscope.registry import DETECTORS
from emoscope.study.pipeline_protocol import (
    evaluate_pipeline,
    match_face,
    pipeline_report,
    spread_subset,
)
from synthetic_faces import write_fer2013_folders


@DETECTORS.register("scripted_test")
class ScriptedDetector(FaceDetector):
    """Returns ``script[k]`` (lists of (x0, y0, x1, y1)) on its k-th call."""

    name = "scripted_test"

    def __init__(self, script: tuple = (), **options: object):
        super().__init__(**options)
        self.script = list(script)
        self.calls = 0

    def _detect(self, rgb: np.ndarray, min_face: float) -> list[FaceBox]:
        boxes = self.script[self.calls] if self.calls < len(self.script) else []
        self.calls += 1
        return [FaceBox(*box, score=0.9) for box in boxes]


def _box(x0, y0, x1, y1) -> FaceBox:
    return FaceBox(x0, y0, x1, y1, 0.9)


def test_match_face_takes_the_detection_nearest_the_placed_face():
    true_box = (100, 50, 200, 150)
    mirror = _box(0, 50, 100, 150)  # a reflected copy beside it: centre outside, no overlap
    inner = _box(120, 70, 190, 150)  # a typical detector box, tighter than the crop
    off = _box(105, 55, 185, 135)
    assert match_face([mirror, inner], true_box) == 1
    assert match_face([mirror, off, inner], true_box) == 1  # off's centre (145, 95) is nearer
    assert match_face([inner, off], true_box) == 1
    assert match_face([mirror], true_box) is None
    assert match_face([], true_box) is None


def test_spread_subset_is_even_and_complete_without_limit():
    assert list(spread_subset(5, None)) == [0, 1, 2, 3, 4]
    assert list(spread_subset(5, 10)) == [0, 1, 2, 3, 4]
    assert list(spread_subset(101, 3)) == [0, 50, 100]


def test_pipeline_report_counts_undetected_faces_as_wrong():
    labels = ["a", "b"]
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [np.nan, np.nan], [0.6, 0.4]])
    report = pipeline_report(probs, np.array([0, 1, 1, 1]), labels)
    assert report["n"] == 4 and report["n_detected"] == 3
    assert report["detected"] == pytest.approx(0.75)
    assert report["accuracy"] == pytest.approx(0.5)
    assert report["accuracy_detected"] == pytest.approx(2 / 3)
    assert report["per_class"]["b"]["recall"] == pytest.approx(1 / 3)
    assert report["per_class"]["b"]["recall_detected"] == pytest.approx(0.5)
    assert report["per_class"]["b"]["detected"] == pytest.approx(2 / 3)
    assert report["undetected_per_class"] == [0, 1]
    assert report["confusion_matrix"] == [[1, 0], [1, 1]]
    # confidences 0.9, 0.8, 0.6 land in three bins; |acc - conf|: 0.1, 0.2, 0.6 -> mean 0.3
    assert report["ece"] == pytest.approx(0.3)


@pytest.fixture
def margin_free_oracle(tmp_path):
    """The bar oracle with no crop margin, so a crop of the true box is the 48x48 face."""
    import tiny_components
    from emoscope.labels import FER2013_LABELS
    from emoscope.models.backbones import Preprocessing
    from emoscope.models.files.checkpoint import ModelCard, save_model

    card = ModelCard(
        name="bar-oracle-0", architecture="bar_oracle_test", architecture_kwargs={},
        label_space=FER2013_LABELS,
        preprocessing=Preprocessing((3, 48, 48), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
        grayscale=True, extra={"face_margin": 0.0},
    )
    return save_model(tiny_components.BarOracle(), card, tmp_path / "oracle0")


def test_pipeline_protocol_scores_the_placed_face_through_the_analyzer(tmp_path,
                                                                        margin_free_oracle):
    """14 faces; the detector misses two and offers a far decoy beside every other face.
    A perfect model then scores 12/14 overall and 12/12 on the detected faces."""
    from emoscope.data.fer2013 import read_folder_layout

    fixture = write_fer2013_folders(tmp_path / "fer", train_per_class=1, test_per_class=2)
    faces = read_folder_layout(fixture.root, "test")
    missed = {3, 9}
    script = []
    for index in range(len(faces)):
        placed = frame_face(faces.images[index], 0, index)
        x0, y0, x1, y1 = placed.box
        decoy = (1, 1, 41, 41) if x0 > 60 or y0 > 60 else (270, 190, 310, 230)
        script.append([] if index in missed else [decoy, (x0, y0, x1, y1)])
    report = evaluate_pipeline(margin_free_oracle, "fer2013", fixture.root, "test",
                               detector="scripted_test", align=False,
                               detector_options={"script": tuple(script)}, min_face=5)
    assert report["protocol"] == "pipeline" and report["n"] == 14
    assert report["detected"] == pytest.approx(12 / 14)
    assert report["accuracy"] == pytest.approx(12 / 14)
    assert report["accuracy_detected"] == pytest.approx(1.0)
    assert sum(report["undetected_per_class"]) == 2
    assert report["framing"]["seed"] == 0 and report["model"] == "bar-oracle-0"


def test_a_wrong_placement_is_scored_wrong(tmp_path, margin_free_oracle):
    """Boxes shifted by half a face still match (centre inside) but cut the bar elsewhere:
    the protocol really scores the crop the detector gives, not the registered face."""
    from emoscope.data.fer2013 import read_folder_layout

    fixture = write_fer2013_folders(tmp_path / "fer", train_per_class=1, test_per_class=2)
    faces = read_folder_layout(fixture.root, "test")
    script = []
    for index in range(len(faces)):
        x0, y0, x1, y1 = frame_face(faces.images[index], 0, index).box
        shift = 0.45 * (y1 - y0)
        script.append([(x0, y0 + shift, x1, y1 + shift)])
    report = evaluate_pipeline(margin_free_oracle, "fer2013", fixture.root, "test",
                               detector="scripted_test", align=False,
                               detector_options={"script": tuple(script)}, min_face=5)
    assert report["detected"] == pytest.approx(1.0)
    assert report["accuracy"] < 0.5
