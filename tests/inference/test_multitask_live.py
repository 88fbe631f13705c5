"""Multi-task models and ensembles in the analysis pipeline and the live loop: expression, VA
and AU columns per tracked face, the window (self-ensemble) smoothing, captions."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import emoscope
from emoscope.cli.main import main
from emoscope.data.video import Frame
from emoscope.faces.detectors.base import FaceBox
from emoscope.inference.analyze import AnalyzeOptions
from emoscope.inference.live import run_live
from emoscope.inference.pipeline import FrameResult
from emoscope.inference.predictor import FacePredictor
from emoscope.inference.sources_run import face_labels
from emoscope.labels import AFFWILD2_ACTION_UNITS
from emoscope.models.ensemble import save_ensemble
from multitask_models import save_multitask

AUS = AFFWILD2_ACTION_UNITS.labels


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    folder = tmp_path_factory.mktemp("multitask")
    return [save_multitask(folder, seed)[0] for seed in (11, 12)]


@pytest.fixture(scope="module")
def ensemble_path(members, tmp_path_factory):
    return save_ensemble(members, tmp_path_factory.mktemp("ens") / "pair.safetensors")


def test_predictor_reports_action_units_and_ensembles_average(members, ensemble_path,
                                                              one_torch_thread):
    crops = [np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8)
             for i in range(3)]
    single = [FacePredictor.from_name(str(p)).predict(crops) for p in members]
    both = FacePredictor.from_name(str(ensemble_path))
    assert both.au_labels == list(AUS) and both.has_valence_arousal
    mean = both.predict(crops)
    assert mean.action_units.shape == (3, 12)
    np.testing.assert_allclose(mean.probabilities, (single[0].probabilities +
                                                    single[1].probabilities) / 2, atol=1e-6)
    np.testing.assert_allclose(mean.valence_arousal, (single[0].valence_arousal +
                                                      single[1].valence_arousal) / 2, atol=1e-6)
    np.testing.assert_allclose(mean.action_units, (single[0].action_units +
                                                   single[1].action_units) / 2, atol=1e-6)
    empty = both.predict([])
    assert empty.action_units.shape == (0, 12) and empty.valence_arousal.shape == (0, 2)


def test_webcam_loop_on_a_video_file_smooths_every_head(face_video, ensemble_path,
                                                       one_torch_thread):
    rows: list[dict] = []
    options = AnalyzeOptions(model=str(ensemble_path), smooth=3, smooth_method="window")
    frames = run_live(str(face_video), options, window=False, max_frames=8, on_rows=rows.extend)
    assert frames == 8 and len(rows) >= 6
    assert {f"au_{name}" for name in AUS} <= set(rows[0])
    assert all(0 <= row["au_AU12"] <= 1 and -1 <= row["valence"] <= 1 for row in rows)
    track = [row for row in rows if row["track_id"] == rows[0]["track_id"]]
    # the window smoothing is the exact mean of the last 3 frames of the track
    for k in range(len(track)):
        window = track[max(0, k - 2):k + 1]
        for key in ("au_AU1", "valence", "p_Happiness"):
            expected = np.mean([row[key] for row in window])
            smooth_key = "smooth_Happiness" if key == "p_Happiness" else f"smooth_{key}"
            assert track[k][smooth_key] == pytest.approx(expected, abs=1e-6)


def test_webcam_cli_prints_au_columns(monkeypatch, capsys, face_video, members,
                                      one_torch_thread):
    monkeypatch.setattr(sys, "argv", ["emoscope", "webcam", "--source", str(face_video),
                                      "--no-window", "--max-frames", "3", "--model",
                                      str(members[0]), "--smooth", "2",
                                      "--smooth-method", "window"])
    main()
    lines = capsys.readouterr().out.strip().splitlines()
    header = lines[0].split(",")
    assert "au_AU26" in header and "smooth_au_AU26" in header and "smooth_valence" in header
    assert len(lines) >= 3


def test_analyze_table_and_annotation_with_an_ensemble(tmp_path, face_video, ensemble_path,
                                                      one_torch_thread):
    table = emoscope.analyze(face_video, model=str(ensemble_path), out=str(tmp_path),
                             every=6, annotate=True, plots=False)
    assert len(table) >= 3
    assert [c for c in table.columns if c.startswith("au_")] == [f"au_{a}" for a in AUS]
    assert table["au_AU4"].between(0, 1).all() and table["valence"].between(-1, 1).all()
    assert (tmp_path / "face_annotated.mp4").is_file()
    from emoscope.inference.writers import read_table

    tracks = read_table(tmp_path / "face_tracks.csv")
    first = tracks.iloc[0]
    rows = table[table["track_id"] == first["track_id"]]
    for name in ("AU1", "AU12"):  # share of the track's frames with the unit active
        assert first[f"active_share_{name}"] == pytest.approx((rows[f"au_{name}"] >= 0.5).mean())


def test_caption_shows_valence_arousal_and_active_units():
    probs = np.zeros((1, 8))
    probs[0, 4] = 1.0
    aus = np.zeros((1, 12))
    aus[0, [3, 6]] = 0.8  # AU6, AU12
    result = FrameResult(Frame(np.zeros((4, 4, 3), np.uint8), 0, 0.0), [FaceBox(0, 0, 2, 2)],
                         [1], probs, None, np.array([[0.314, -0.12]]), aus, AUS)
    labels = ["Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise",
              "Other"]
    (face,) = face_labels(result, labels)
    assert face.label == "Happiness"
    assert face.details == "V +0.31 A -0.12  AU6 AU12"


def test_details_line_is_drawn_under_the_box():
    from emoscope.inference.annotate import FaceLabel, draw_faces

    frame = np.zeros((120, 120, 3), np.uint8)
    plain = draw_faces(frame, [FaceLabel((20, 20, 60, 60), 1, "Happiness", 0.9)])
    detailed = draw_faces(frame, [FaceLabel((20, 20, 60, 60), 1, "Happiness", 0.9,
                                            "V +0.31 A -0.12  AU6")])
    changed = np.argwhere((plain != detailed).any(axis=2))
    assert len(changed) and changed[:, 0].min() >= 60  # only below the box
