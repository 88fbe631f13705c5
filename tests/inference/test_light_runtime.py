"""The light runtime: analysis without the training stack, every shipped model on ONNX Runtime
from the graph in the package, agreeing with PyTorch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emoscope.errors import UserError

HEAVY = ("torch", "timm", "lightning", "torchvision", "torchmetrics")

_PROBE = r"""
import json, sys
from pathlib import Path
from emoscope.cli.main import main

photo, video, out = sys.argv[1:4]
def cli(*args):
    sys.argv = ["emoscope", *args]
    try:
        main()
    except SystemExit as stop:
        assert not stop.code, (args, stop.code)

cli("analyze", photo, video, "--out", out, "--fps", "4")
for command in ("webcam", "serve", "export", "evaluate"):
    cli(command, "--help")
cli("models")
cli("list", "detectors")
import emoscope
table = emoscope.analyze(photo, plots=False)
from emoscope import EmotionAnalyzer
import numpy as np
from PIL import Image
rows = EmotionAnalyzer().analyze_image(np.asarray(Image.open(photo).convert("RGB")))
heavy = [m for m in %r if m in sys.modules]
print(json.dumps({"heavy": heavy, "faces": len(table), "rows": len(rows)}))
"""


@pytest.fixture
def media(tmp_path, astronaut_rgb):
    from speech_fixtures import write_av_clip

    photo = tmp_path / "in" / "astronaut.jpg"
    photo.parent.mkdir()
    Image.fromarray(astronaut_rgb).save(photo)
    frames = [np.ascontiguousarray(astronaut_rgb[::2, ::2])] * 12
    video = write_av_clip(tmp_path / "in" / "talk.mp4", seconds=2.0, fps=6, frames=frames)
    return photo, video


@pytest.mark.slow
def test_analysis_imports_no_training_stack(tmp_path, media):
    """CLI analysis of a photo and a video with sound (faces and voice), the Python API, and
    the help of the other commands, in a fresh interpreter: torch, timm and Lightning are
    never imported."""
    photo, video = media
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", _PROBE % (HEAVY,), str(photo), str(video),
                           str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert result["faces"] == 1 and result["rows"] >= 1
    assert (out / "astronaut.csv").is_file() and (out / "talk_voice.csv").is_file()


def test_shipped_models_load_on_onnx_runtime_by_default():
    from emoscope.models.files.loading import load_for_inference
    from emoscope.models.files.zoo import shipped_cards

    for card in shipped_cards():
        loaded = load_for_inference(card.name, card.task)
        if card.architecture == "speech_linear":  # features + linear head, run in numpy
            assert loaded.runtime == "numpy", card.name
            continue
        assert loaded.runtime == "onnx", card.name
        assert loaded.source.endswith(f"weights/{card.name}.onnx")
        graph = Path(loaded.source)
        assert graph.stat().st_size < graph.with_suffix(".safetensors").stat().st_size / 10


def _generated_inputs(card, seed: int = 0) -> list[np.ndarray]:
    """Batches the model has not seen: noise images, or log-mel of several lengths."""
    rng = np.random.default_rng(seed)
    shape = tuple(card.preprocessing.input_size)
    if "audio" in card.extra:
        return [rng.normal(-4.0, 2.5, (n, shape[1], t)).astype(np.float32)
                for n, t in ((4, shape[2]), (2, 101), (1, shape[2] + 80))]
    return [rng.uniform(-1, 1, (n, *shape)).astype(np.float32) for n in (1, 7)]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fer2013-lite0", "ravdess-speech-cnn", "ravdess-speech-ge2e",
                                  "ravdess-speech-lite0", "ravdess-speech-lite0ge2e"])
def test_shipped_model_parity_on_generated_inputs(name, record_property):
    from emoscope.models.files.loading import load_for_inference, predict_softmax

    onnx = load_for_inference(name, "speech_emotion" if "speech" in name else "face_expression")
    torch_model = load_for_inference(name, onnx.card.task, runtime="torch")
    assert torch_model.runtime == "torch"
    worst = 0.0
    for batch in _generated_inputs(onnx.card):
        got = predict_softmax(onnx.network, list(batch))
        expected = predict_softmax(torch_model.network, list(batch))
        worst = max(worst, float(np.abs(got - expected).max()))
        assert (got.argmax(1) == expected.argmax(1)).all()
    record_property("max_abs_prob_diff", worst)
    assert worst < 1e-4


@pytest.mark.slow
@pytest.mark.shared_data
def test_shipped_face_model_parity_on_real_faces(shared_data, record_property):
    """The face predictor on 128 real FER2013 PublicTest faces, both runtimes."""
    from emoscope.inference.predictor import FacePredictor, prepare_crop

    files = sorted((shared_data / "fer2013" / "test").glob("*/*.jpg"))[::28][:128]
    onnx = FacePredictor.from_name("fer2013-lite0")
    torch_predictor = FacePredictor.from_name("fer2013-lite0", runtime="torch")
    assert onnx.on_onnx and not torch_predictor.on_onnx
    crops = [prepare_crop(np.asarray(Image.open(f).convert("RGB")), onnx.card) for f in files]
    got, expected = onnx.predict(crops).probabilities, torch_predictor.predict(crops).probabilities
    diff = float(np.abs(got - expected).max())
    record_property("max_abs_prob_diff", diff)
    assert len(files) == 128 and diff < 1e-4
    assert (got.argmax(1) == expected.argmax(1)).all()


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["ravdess-speech-lite0ge2e", "ravdess-speech-ge2e"])
def test_shipped_speech_model_parity_on_real_clips(name, shared_data, record_property):
    """Voice timelines of real RAVDESS clips (one per emotion), both runtimes. Windows quieter
    than -50 dBFS (``voiced`` false: their scores describe no voice) are left out: each window
    is normalised to unit variance, which in near-silence magnifies rounding differences (up
    to 0.02 when measured) into the probabilities."""
    from emoscope.inference.voice import VoiceAnalyzer

    clips = sorted(p for p in (shared_data / "ravdess").rglob("03-01-*")
                   if p.suffix in (".flac", ".wav"))
    picked = {}
    for clip in clips:
        picked.setdefault(clip.name.split("-")[2], clip)
    if len(picked) < 8:
        pytest.skip("RAVDESS clips not found")
    onnx, torch_voice = VoiceAnalyzer(name), VoiceAnalyzer(name, runtime="torch")
    worst, windows = 0.0, 0
    for clip in picked.values():
        got, expected = onnx.timeline(clip), torch_voice.timeline(clip)
        voiced = got["voiced"].to_numpy()
        assert (voiced == expected["voiced"].to_numpy()).all()
        scores = [c for c in got.columns if c.startswith("p_")]
        diff = np.abs(got[scores].to_numpy() - expected[scores].to_numpy())[voiced]
        worst = max(worst, float(diff.max(initial=0.0)))
        windows += int(voiced.sum())
        assert got["top_label"][voiced].tolist() == expected["top_label"][voiced].tolist()
    record_property("max_abs_prob_diff_voiced", worst)
    assert windows >= 8 * 4 and worst < 1e-4


def test_without_torch_a_model_without_graph_names_the_extra(monkeypatch, tiny_model_path):
    from emoscope.models.files import loading

    monkeypatch.setattr(loading, "torch_available", lambda: False)
    with pytest.raises(UserError, match=r"pip install 'emoscope\[train\]'"):
        loading.load_for_inference(tiny_model_path)
    with pytest.raises(UserError, match=r"needs PyTorch.*emoscope\[train\]"):
        loading.load_for_inference("fer2013-lite0", runtime="torch")
    assert loading.load_for_inference("fer2013-lite0").runtime == "onnx"  # shipped: no torch


def test_missing_optional_package_is_one_line_naming_the_extra(monkeypatch, capsys):
    from emoscope.cli import main as cli_main

    def needs_lightning(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'lightning'", name="lightning")

    monkeypatch.setattr(cli_main, "app", needs_lightning)
    monkeypatch.setattr(sys, "argv", ["emoscope", "train", "x.yaml"])
    with pytest.raises(SystemExit) as stop:
        cli_main.main()
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in err
    assert err == ("error: this command needs 'lightning', which the installed extras leave "
                   "out; install it with: pip install 'emoscope[train]'")
