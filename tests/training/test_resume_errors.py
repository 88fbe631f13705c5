"""``--resume`` from a last.ckpt that is truncated, not a checkpoint, or another model's: one
line naming the file, before any training starts."""

from __future__ import annotations

import pytest
import torch

from emoscope.config import merge_config
from emoscope.errors import UserError
from emoscope.training.config import TrainConfig
from emoscope.training.train import train
from synthetic_faces import write_fer2013_folders


@pytest.fixture
def run(tmp_path):
    faces = write_fer2013_folders(tmp_path / "fer2013", train_per_class=2, test_per_class=1)
    cfg = merge_config(TrainConfig, None, [
        f"data.root={faces.root}", "data.image_size=32", "data.cache_dir=",
        f"out_dir={tmp_path / 'runs'}", "name=tiny", "model.backbone=tiny_cnn_test",
        "model.pretrained=none", "trainer.accelerator=cpu", "trainer.num_threads=1",
        "trainer.max_epochs=1", "trainer.batch_size=4"])
    last = tmp_path / "runs" / "tiny" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    return cfg, last


def _fails_in_one_line(cfg, last, match: str) -> None:
    with pytest.raises(UserError, match=match) as err:
        train(cfg, resume=True)
    assert str(err.value).startswith(str(last)) and "\n" not in str(err.value)
    assert not (last.parent / "best.ckpt").exists()  # nothing was trained


def test_truncated_last_checkpoint(run):
    cfg, last = run
    torch.save({"state_dict": {"network.w": torch.zeros(100)}, "epoch": 0}, last)
    last.write_bytes(last.read_bytes()[:200])
    _fails_in_one_line(cfg, last, "truncated or damaged")


def test_last_checkpoint_of_another_model(run):
    cfg, last = run
    torch.save({"state_dict": {"network.fc.weight": torch.zeros(2, 2)}, "epoch": 0}, last)
    _fails_in_one_line(cfg, last, "a checkpoint of another model")


def test_last_checkpoint_that_is_not_a_checkpoint(run):
    cfg, last = run
    torch.save([1, 2, 3], last)
    _fails_in_one_line(cfg, last, "not a training checkpoint")
    last.write_text("not even a torch file")
    _fails_in_one_line(cfg, last, "not a loadable weights-only checkpoint")
