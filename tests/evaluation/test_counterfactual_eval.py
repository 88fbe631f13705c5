"""A face-expression model trained elsewhere scores CAER-S face crops as a face-only control:
a model that reads the drawn class bar exactly scores 100% through the label-name mapping."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from emoscope.data.caer_faces import write_face_coords
from emoscope.evaluation.counterfactual import evaluate_caer
from synthetic_faces import FER_LABELS, bar_face

CLASSES = {"Anger": "angry", "Happy": "happy", "Surprise": "surprise"}  # CAER-S -> FER2013


def test_face_model_on_caer_s_faces(tmp_path, bar_oracle_path):
    root = tmp_path / "CAER-S"
    rng = np.random.default_rng(0)
    boxes = {}
    for caer, fer in CLASSES.items():
        (root / "test" / caer).mkdir(parents=True)
        for i in range(2):
            frame = np.full((120, 160, 3), 30, np.uint8)
            x, y = 20 + 40 * i, 30
            frame[y:y + 48, x:x + 48] = bar_face(FER_LABELS.index(fer), rng)[..., None]
            relative = f"test/{caer}/{i}.png"
            Image.fromarray(frame).save(root / relative)
            boxes[relative] = (x, y, x + 48, y + 48)
    write_face_coords(root / "test_face_coords.json", boxes)
    report = evaluate_caer(str(bar_oracle_path), root, "test")
    assert report["accuracy"] == 1.0 and report["n"] == 6
    assert list(report["heads"]) == ["factual"]
    json.dumps(report)  # the report is plain JSON
