"""Speech training end to end on generated tones: it learns, exports a card with the front
end, resumes, and ``emoscope evaluate --dataset ravdess`` scores the exported model."""

from __future__ import annotations

import json
import re

import pytest

from emoscope.config import merge_config
from emoscope.errors import UserError
from emoscope.training.speech_config import SpeechTrainConfig, is_speech_config
from speech_fixtures import write_ravdess

REPO_CONFIG = "configs/ravdess_speech.yaml"


def _config(tmp_path, root, **extra) -> SpeechTrainConfig:
    overrides = [f"data.root={root}", f"out_dir={tmp_path / 'runs'}",
                 f"data.cache_dir={tmp_path / 'cache'}", "data.crop_seconds=1.0",
                 "model.architecture=speech_cnn", "model.pretrained=none",
                 "model.kwargs={channels: [24, 24], kernel: 3}", "model.dropout=0.0",
                 "model.spec_augment=false", "optim.lr=5e-3", "optim.warmup_epochs=0",
                 "trainer.max_epochs=4", "trainer.batch_size=8", "trainer.max_minutes=0",
                 "mixup_alpha=0",
                 "data.kwargs={label_set: '8', num_folds: 3, val_fold: -1}"]
    overrides += [f"{k}={v}" for k, v in extra.items()]
    return merge_config(SpeechTrainConfig, REPO_CONFIG, overrides)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three actors, 15 tone clips each (the pitch is the emotion), and a run trained on
    actors 1-2, validated on actor 3."""
    import torch

    from emoscope.training.train_speech import train_speech

    tmp_path = tmp_path_factory.mktemp("speech")
    tones = write_ravdess(tmp_path / "ravdess", actors=(1, 2, 3), statements=(1,))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train_speech(_config(tmp_path, tones), command="test")
    finally:
        torch.set_num_threads(threads)
    return tmp_path, tones, result


def test_repo_yaml_is_a_speech_config():
    from emoscope.config import load_yaml

    data = load_yaml(REPO_CONFIG)
    assert is_speech_config(data)
    cfg = merge_config(SpeechTrainConfig, REPO_CONFIG)
    assert cfg.model.architecture == "speech_cnn" and cfg.data.kwargs["val_fold"] == -1


def test_tone_pitch_is_learned_on_unseen_speakers(trained):
    from emoscope.models.files.checkpoint import load_model

    _, _, result = trained
    assert result.metrics["val/accuracy"] >= 0.8  # chance: 1/8 (speaker 3 never trained on)
    assert result.metrics["val_clip_accuracy"] == pytest.approx(result.metrics["val/accuracy"],
                                                               abs=1e-4)
    model, card = load_model(result.model_path)
    assert card.task == "speech_emotion" and card.extra["audio"]["n_mels"] == 64
    assert card.extra["speakers"] == {"train": [1, 2], "val": [3]}
    assert card.preprocessing.input_size == (1, 64, 101)
    for name in ("model.json", "val_report.json", "confusion.png", "history.png",
                 "checkpoints/last.ckpt"):
        assert (result.run_dir / name).is_file(), name


def test_evaluate_cli_scores_every_clip_under_the_root(trained, one_torch_thread):
    from typer.testing import CliRunner

    from emoscope.cli.main import app

    tmp_path, tones, result = trained
    out = tmp_path / "eval"
    args = ["evaluate", "--dataset", "ravdess", "--root", str(tones / "Actor_03"), "--model",
            str(result.model_path.with_suffix(".json")), "--json", str(out / "r.json")]
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 0, run.output
    assert "15 clips," in run.output and "faces" not in run.output
    report = json.loads((out / "r.json").read_text())
    assert report["n"] == 15 and report["speakers"] == [3] and report["split"] == "all"
    assert 0.8 <= report["accuracy"] <= 1 and 0.7 <= report["uar"] <= 1
    assert report["accuracy"] == pytest.approx(result.metrics["val_clip_accuracy"], abs=1e-4)
    lines = (out / "r_predictions.csv").read_text().splitlines()
    assert len(lines) == 16 and lines[0].startswith("source,speaker,true,predicted,p_neutral")
    assert (out / "r_confusion.png").stat().st_size > 0
    run7 = CliRunner().invoke(app, args[:-2] + ["--data", "label_set=7",
                                                "--max-per-emotion", "1"])
    assert run7.exit_code == 0, run7.output
    assert "over 7 classes" in run7.output
    missing = CliRunner().invoke(app, ["evaluate", "--dataset", "ravdess", "--root",
                                       str(tmp_path / "nowhere")])
    assert missing.exit_code != 0


def test_a_run_is_resumed_not_overwritten(trained, one_torch_thread):
    """Runs last: it trains the shared run one more epoch."""
    from emoscope.training.train_speech import train_speech

    tmp_path, tones, _ = trained
    with pytest.raises(UserError, match="pass --resume"):
        train_speech(_config(tmp_path, tones), command="test")
    again = train_speech(_config(tmp_path, tones, **{"trainer.max_epochs": 5}), resume=True,
                         command="test")
    epochs = [row["epoch"] for row in again.history if "val/accuracy" in row]
    assert epochs == list(range(5))  # the 4 earlier epochs kept, one more trained


def test_speed_perturbed_crops_keep_their_shape_and_change(tmp_path):
    import numpy as np

    from emoscope.data.audio import AudioFrontEnd
    from emoscope.data.speech_arrays import SpeechArrays
    from emoscope.labels import LabelSpace
    from emoscope.training.speech_module import SpectrogramCrops

    features = np.random.default_rng(0).normal(size=(4, 64, 120)).astype(np.float32)
    arrays = SpeechArrays(features, np.array([120, 120, 80, 30]), np.arange(4),
                          LabelSpace("tones", "single_label", ("a", "b", "c", "d")),
                          AudioFrontEnd())
    plain = SpectrogramCrops(arrays, 50, train=True, seed=0)
    sped = SpectrogramCrops(arrays, 50, train=True, seed=0, speed_spread=0.2,
                            front=AudioFrontEnd())
    for index in range(4):
        crop, label = sped[index]
        assert tuple(crop.shape) == (64, 50) and label == index
    assert not np.allclose(plain[0][0].numpy(), sped[0][0].numpy())
    validation = SpectrogramCrops(arrays, 50, train=False, speed_spread=0.2,
                                  front=AudioFrontEnd())
    assert np.allclose(validation[0][0].numpy(), features[0, :, 35:85])  # centred, untouched
    with pytest.raises(ValueError, match="front end"):
        SpectrogramCrops(arrays, 50, train=True, speed_spread=0.2)


def test_a_bad_speed_spread_is_a_user_error(tmp_path):
    from emoscope.training.train_speech import train_speech

    with pytest.raises(UserError, match="speed_perturb"):
        train_speech(_config(tmp_path, tmp_path, **{"data.speed_perturb": 0.7}), command="t")


def _imbalanced_arrays(n_major: int = 90, n_minor: int = 10):
    import numpy as np

    from emoscope.data.audio import AudioFrontEnd
    from emoscope.data.speech_arrays import SpeechArrays
    from emoscope.labels import LabelSpace

    n = n_major + n_minor
    features = np.zeros((n, 64, 40), np.float32)
    labels = np.array([0] * n_major + [1] * n_minor)
    return SpeechArrays(features, np.full(n, 40), labels,
                        LabelSpace("tones", "single_label", ("a", "b")), AudioFrontEnd())


@pytest.mark.parametrize("sampler, minor_share", [("random", 0.10), ("class_weighted", 0.50)])
def test_speech_sampler_setting_is_honoured(sampler, minor_share):
    import numpy as np

    from emoscope.training.speech_module import SpeechDataModule

    arrays = _imbalanced_arrays()
    data = SpeechDataModule(arrays, arrays, 20, batch_size=10, eval_batch_size=10, seed=0,
                            sampler=sampler)
    drawn = np.concatenate([labels.numpy() for _ in range(20)
                            for _, labels in data.train_dataloader()])
    assert abs(drawn.mean() - minor_share) < 0.05


def test_speech_loss_takes_focal_gamma_and_class_weights():
    import torch

    from emoscope.training.config import LossConfig
    from emoscope.training.run import loss_kwargs

    labels = _imbalanced_arrays().labels
    kwargs = loss_kwargs(LossConfig(name="focal", focal_gamma=2.0, class_weights=True,
                                    label_smoothing=0.1), labels, 2)
    assert kwargs["gamma"] == 2.0 and kwargs["label_smoothing"] == 0.1
    assert torch.allclose(kwargs["class_weights"], torch.tensor([100 / 180, 100 / 20]))
    assert "class_weights" not in loss_kwargs(LossConfig(), labels, 2)


def test_an_unknown_sampler_is_a_user_error(tmp_path):
    from emoscope.training.train_speech import train_speech

    with pytest.raises(UserError, match="trainer.sampler must be one of random, class_weighted"):
        train_speech(_config(tmp_path, tmp_path, **{"trainer.sampler": "balanced"}),
                     command="t")


def _write_teacher(path, names, probs, offsets):
    import numpy as np

    np.savez_compressed(path, sources=np.array(names), labels=np.zeros(len(names), np.int64),
                        offsets=np.asarray(offsets), probs=np.asarray(probs, np.float16),
                        members=np.array(["a"]), command=np.array("test"))
    return path


def test_teacher_targets_are_matched_by_name_and_mixed_with_the_label(tmp_path):
    import numpy as np

    from emoscope.data.audio import AudioFrontEnd
    from emoscope.data.speech_arrays import SpeechArrays
    from emoscope.labels import LabelSpace
    from emoscope.training.speech_module import SpectrogramCrops
    from emoscope.training.speech_teacher import load_teacher

    features = np.random.default_rng(0).normal(size=(2, 64, 120)).astype(np.float32)
    arrays = SpeechArrays(features, np.array([120, 120]), np.array([0, 2]),
                          LabelSpace("tones", "single_label", ("a", "b", "c")), AudioFrontEnd(),
                          sources=["/x/Actor_01/a.wav", "/x/Actor_02/b.wav"])
    # stored in another order, with a clip the arrays do not have; one crop position each
    probs = [[[0.2, 0.2, 0.6]], [[0.5, 0.25, 0.25]], [[1.0, 0.0, 0.0]]]
    path = _write_teacher(tmp_path / "t.npz", ["b.wav", "a.wav", "other.wav"], probs,
                          [[70], [10], [0]])
    teacher = load_teacher(path, arrays)
    assert teacher.offsets.tolist() == [[10], [70]]
    crops = SpectrogramCrops(arrays, 50, train=True, teacher=teacher, teacher_weight=0.25)
    crop, label, target = crops[0]
    assert label == 0 and np.allclose(crop.numpy(), features[0, :, 10:60])
    np.testing.assert_allclose(target.numpy(), [0.75 + 0.25 * 0.5, 0.0625, 0.0625], atol=1e-3)
    crop, label, target = crops[1]
    assert label == 2 and np.allclose(crop.numpy(), features[1, :, 70:120])
    np.testing.assert_allclose(target.numpy(), [0.05, 0.05, 0.9], atol=1e-3)
    assert len(SpectrogramCrops(arrays, 50, train=False, teacher=teacher)[0]) == 2  # validation

    _write_teacher(tmp_path / "few.npz", ["a.wav"], probs[:1], [[0]])
    _write_teacher(tmp_path / "two.npz", ["a.wav", "b.wav"], [[[0.5, 0.5]]] * 2, [[0], [0]])
    (tmp_path / "junk.npz").write_bytes(b"junk")
    for name, message in [("few.npz", "no teacher targets for 1 training clip(s), e.g. b.wav"),
                          ("two.npz", "do not fit 3 classes"), ("missing.npz", "not found"),
                          ("junk.npz", "not a teacher file")]:
        with pytest.raises(UserError, match=re.escape(message)):
            load_teacher(tmp_path / name, arrays)


def test_a_student_learns_what_its_teacher_says(tmp_path, one_torch_thread):
    """teacher_weight 1 with a teacher that names the next emotion: the student follows the
    teacher, not the file-name labels, on speakers it never heard."""
    import numpy as np

    from emoscope.evaluation.speech import evaluate_speech_model
    from emoscope.training.train_speech import load_speech_split, train_speech

    tones = write_ravdess(tmp_path / "ravdess", actors=(1, 2, 3), statements=(1,))
    cfg = _config(tmp_path, tones, **{"data.teacher_weight": 1.0, "trainer.max_epochs": 6})
    train = load_speech_split(cfg, "train")
    shifted = np.eye(8)[(train.labels + 1) % 8][:, None, :].repeat(2, axis=1)
    cfg.data.teacher = str(_write_teacher(tmp_path / "t.npz",
                                          [p.rsplit("/", 1)[-1] for p in train.sources],
                                          shifted, np.zeros((len(train), 2), np.int64)))
    result = train_speech(cfg, command="test")
    report = evaluate_speech_model(str(result.model_path), "ravdess", tones, split="val",
                                   dataset_kwargs={"num_folds": 3, "val_fold": -1})
    confusion = np.array(report["confusion_matrix"])  # rows: true emotion
    follows = sum(confusion[c, (c + 1) % 8] for c in range(8)) / confusion.sum()
    assert follows >= 0.5 and report["accuracy"] <= 0.25, (follows, report["accuracy"])


def test_teacher_settings_are_checked(tmp_path):
    from emoscope.training.train_speech import train_speech

    with pytest.raises(UserError, match="teacher_weight must be in"):
        train_speech(_config(tmp_path, tmp_path, **{"data.teacher_weight": 1.5}), command="t")
    with pytest.raises(UserError, match="cannot be combined"):
        train_speech(_config(tmp_path, tmp_path, **{"data.teacher": "t.npz",
                                                    "data.speed_perturb": 0.1}), command="t")
