"""A 2-process CPU DDP training run (gloo), launched by ``test_ddp.py`` as a script: Lightning
starts the second process by running this file again. Each process records, in LOG_DIR (not
the run folder), which emoscope outputs it wrote and which validation faces it scored.

usage: python ddp_run.py DATA_ROOT OUT_DIR LOG_DIR
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS), str(TESTS / "training")]

import emoscope.utils.files as files  # noqa: E402

RANK = int(os.environ.get("LOCAL_RANK", "0"))  # set by Lightning for the launched process
LOG_DIR = Path(sys.argv[3])
_atomic_path = files.atomic_path


def _append(name: str, record: dict) -> None:
    with open(LOG_DIR / f"{name}-rank{RANK}.jsonl", "a") as handle:
        handle.write(json.dumps(record) + "\n")


@contextmanager
def recording_atomic_path(path):
    _append("writes", {"path": str(path)})
    with _atomic_path(path) as tmp:
        yield tmp


files.atomic_path = recording_atomic_path  # before any emoscope module imports it by name

import torch  # noqa: E402
from test_train_runs import tiny_config  # noqa: E402
from torch import nn  # noqa: E402

import tiny_components  # noqa: E402,F401  (registers the tiny_cnn_test backbone)
from emoscope.training.classifier_module import ClassifierModule  # noqa: E402
from emoscope.training.train import train  # noqa: E402

_validation_step = ClassifierModule.validation_step


def recording_validation_step(self, batch, batch_idx):
    images, _, labels = batch
    with torch.no_grad():
        logits = self(self.transform(images, False)).float()
    _append("val", {
        "epoch": self.current_epoch, "sanity": self.trainer.sanity_checking,
        "faces": [hashlib.md5(image.numpy().tobytes()).hexdigest() for image in images],
        "correct": int((logits.argmax(1) == labels).sum()),
        "loss_sum": float(nn.functional.cross_entropy(logits, labels, reduction="sum")),
    })
    return _validation_step(self, batch, batch_idx)


ClassifierModule.validation_step = recording_validation_step

if __name__ == "__main__":
    cfg = tiny_config(sys.argv[1], sys.argv[2], "trainer.strategy=ddp", "trainer.devices=2",
                      "trainer.max_epochs=2", "trainer.eval_batch_size=8")
    result = train(cfg, command="ddp test")
    _append("result", {"metrics": result.metrics, "model": str(result.model_path)})
