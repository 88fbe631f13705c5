"""``evaluate`` of a shipped face model where torch cannot be imported (the analysis install):
ONNX Runtime and numpy preprocessing give the torch path's scores."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from synthetic_faces import write_fer2013_folders

_BLOCK_TRAINING_STACK = r"""
import json, sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "timm", "lightning", "torchvision", "sklearn"):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
sys.meta_path.insert(0, Refuse())
from emoscope.evaluation.evaluate import evaluate_model
report = evaluate_model("fer2013-lite0", "fer2013", sys.argv[1], "test", cache_dir=None)
print(json.dumps({k: report[k] for k in ("accuracy", "macro_f1", "confusion_matrix",
                                         "runtime")}))
"""


@pytest.mark.slow
def test_shipped_model_evaluates_without_torch_as_with_it(tmp_path):
    from emoscope.evaluation.evaluate import evaluate_model

    data = write_fer2013_folders(tmp_path / "fer", train_per_class=1, test_per_class=6)
    done = subprocess.run([sys.executable, "-c", _BLOCK_TRAINING_STACK, str(data.root)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    light = json.loads(done.stdout.strip().splitlines()[-1])
    reference = evaluate_model("fer2013-lite0", "fer2013", data.root, "test", cache_dir=None,
                               runtime="torch")
    assert light["runtime"] == "onnx" and reference["runtime"] == "torch"
    assert light["confusion_matrix"] == reference["confusion_matrix"]
    assert light["accuracy"] == reference["accuracy"] and sum(map(sum, light[
        "confusion_matrix"])) == 42
