"""Pipeline crops of training faces: the predictor's own crop, at the native 48x48."""

from __future__ import annotations

import cv2
import numpy as np

from emoscope.data.faces import FaceArrays
from emoscope.data.framing import frame_face
from emoscope.faces.detectors.base import FaceBox
from emoscope.inference.predictor import FacePredictor
from emoscope.labels import FER2013_LABELS
from emoscope.study.pipeline_crops import native_crop_predictor, pipeline_crops
from synthetic_faces import bar_face


class PlacedFaceDetector:
    """Finds the placed face (its true box) in every frame but the ones it is told to miss."""

    def __init__(self, seeds, miss=()):
        self.seeds, self.miss, self.calls = seeds, set(miss), 0

    def detect(self, rgb):
        v, i = divmod(self.calls, 3)
        self.calls += 1
        if (v, i) in self.miss:
            return [FaceBox(0, 0, 10, 10)]  # a false face far from the placed one
        x0, y0, x1, y1 = frame_face(FACES.images[i], self.seeds[v], i).box
        return [FaceBox(x0, y0, x1, y1)]


rng = np.random.default_rng(0)
FACES = FaceArrays(np.stack([bar_face(k, rng) for k in range(3)]), np.arange(3, dtype=np.int64),
                   FER2013_LABELS, ["a", "b", "c"])


def test_crops_are_native_size_grey_and_misses_stay_empty():
    predictor = native_crop_predictor(FacePredictor.from_name(None, align=False))
    assert predictor.card.preprocessing.input_size[1:] == (48, 48)
    seeds = (101, 102)
    crops, found = pipeline_crops(FACES, seeds, PlacedFaceDetector(seeds, miss={(1, 2)}),
                                  predictor)
    assert crops.shape == (2, 3, 48, 48) and crops.dtype == np.uint8
    assert found.tolist() == [[True, True, True], [True, True, False]]
    assert not crops[1, 2].any()
    # The true box plus the model's margin (a tenth of the side each way) is the face again:
    # its middle correlates with the registered face far better than with another face.
    inner = round(48 * predictor.margin / (1 + 2 * predictor.margin))
    for i in range(3):
        middle = cv2.resize(crops[0, i, inner:48 - inner, inner:48 - inner], (48, 48))
        own = np.corrcoef(middle.ravel(), FACES.images[i].ravel())[0, 1]
        other = np.corrcoef(middle.ravel(), FACES.images[(i + 1) % 3].ravel())[0, 1]
        assert own > 0.5 and own > other + 0.2
