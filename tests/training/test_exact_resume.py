"""A run killed after epoch k and resumed is the run it resumes: per-epoch metrics of the face,
speech and EMOTIC trainers match the uninterrupted run (augmentation, MixUp, shuffling,
random crops, EMA and the schedule all continue where they stopped)."""

from __future__ import annotations

import lightning as L
import pytest

KILLED_AFTER = 2  # epochs completed before the interruption
COMPARED = ("train/loss", "train/accuracy", "val/loss", "val/accuracy", "val/mAP")


class Killed(RuntimeError):
    pass


class KillAfter(L.Callback):
    """Stops the process's training the way a kill would: after ``epochs`` epochs were
    checkpointed, at the start of the next one."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epochs:
            raise Killed(f"killed after epoch {self.epochs}")


def _metrics(history: list[dict]) -> list[dict[str, float]]:
    return [{k: float(row[k]) for k in COMPARED if k in row} for row in history]


def assert_same_epochs(resumed: list[dict], straight: list[dict], epochs: int) -> None:
    assert [int(r["epoch"]) for r in resumed] == list(range(epochs))
    got, want = _metrics(resumed), _metrics(straight)
    assert len(got) == len(want) == epochs
    for epoch, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a.keys() == b.keys() and len(a) >= 3, (epoch, a, b)
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5), f"epoch {epoch}: {a} != {b}"


def _interrupted_then_resumed(run, cfg_straight, cfg_killed):
    straight = run(cfg_straight)
    with pytest.raises(Killed):
        run(cfg_killed, callbacks=[KillAfter(KILLED_AFTER)])
    resumed = run(cfg_killed, resume=True)
    return straight, resumed


def test_face_run_resumes_exactly(tmp_path):
    from test_train_runs import tiny_config

    from emoscope.training.train import train
    from synthetic_faces import write_fer2013_folders

    data = write_fer2013_folders(tmp_path / "fer2013", train_per_class=8, test_per_class=4,
                                 seed=5)
    recipe = ["trainer.max_epochs=4", "trainer.mixup_alpha=0.4", "trainer.ema_decay=0.9",
              "trainer.sampler=class_weighted", "augment.rotate_deg=10", "augment.erase_p=0.5",
              "model.dropout=0.3", "optim.warmup_epochs=1"]
    straight, resumed = _interrupted_then_resumed(
        train, tiny_config(data.root, tmp_path / "a", *recipe),
        tiny_config(data.root, tmp_path / "b", *recipe))
    assert_same_epochs(resumed.history, straight.history, 4)
    assert resumed.metrics == straight.metrics


def test_speech_run_resumes_exactly(tmp_path, one_torch_thread):
    from test_train_speech import _config

    from emoscope.training.train_speech import train_speech
    from speech_fixtures import write_ravdess

    tones = write_ravdess(tmp_path / "ravdess", actors=(1, 2, 3), statements=(1,))
    recipe = {"trainer.max_epochs": 4, "mixup_alpha": 0.4, "model.dropout": 0.3,
              "model.spec_augment": "true", "data.crop_seconds": 0.5}
    straight, resumed = _interrupted_then_resumed(
        train_speech, _config(tmp_path / "a", tones, **recipe),
        _config(tmp_path / "b", tones, **recipe))
    assert_same_epochs(resumed.history, straight.history, 4)


@pytest.mark.parametrize("workers", [0, 2])  # worker processes draw from their own seeds
def test_emotic_run_resumes_exactly(tmp_path, one_torch_thread, workers):
    from test_train_emotic import tiny_config

    from emoscope.training.train_emotic import train_emotic
    from emotic_fixtures import make_images, write_layout

    images = make_images({"train": 24, "val": 8, "test": 2}, seed=4)
    root = write_layout("preprocessed", tmp_path / "emotic", images)
    recipe = ["trainer.max_epochs=4", "model.context.augment=full", "model.body.augment=full",
              "model.face.augment=basic", "model.head_kwargs={dropout: 0.3}",
              f"data.num_workers={workers}"]
    straight, resumed = _interrupted_then_resumed(
        train_emotic, tiny_config(root, tmp_path / "a", *recipe),
        tiny_config(root, tmp_path / "b", *recipe))
    assert_same_epochs(resumed.history, straight.history, 4)
