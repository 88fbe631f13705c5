"""EMOTIC for CLEF: the context branch's view is the image with exactly the body box zeroed,
the factual view is left whole."""

from __future__ import annotations

import math

import numpy as np

from emoscope.data.emotic_clef import load_emotic_clef
from emotic_fixtures import HEIGHT, WIDTH, make_images, write_layout


def test_masked_context_zeroes_exactly_the_body_box(tmp_path):
    images = make_images({"train": 2, "val": 1, "test": 1}, seed=2)
    root = write_layout("preprocessed", tmp_path / "emotic_pre", images)
    raw = {"size": [HEIGHT, WIDTH]}
    dataset = load_emotic_clef(str(root), "val", streams={"context": raw}, train=False)
    assert len(dataset) == 2  # one image, two persons
    for index, person in enumerate(dataset.persons):
        item = dataset[index]
        context, masked = item["context"].numpy(), item["context_masked"].numpy()
        x1, y1, x2, y2 = person.body_box
        inside = np.zeros((HEIGHT, WIDTH), bool)
        inside[max(math.floor(y1), 0):math.ceil(y2), max(math.floor(x1), 0):math.ceil(x2)] = True
        assert (masked[:, inside] == 0).all()
        assert np.array_equal(masked[:, ~inside], context[:, ~inside])
        assert (context[:, inside] > 0).any()  # the factual view still shows the person
        assert item["categories"].shape == (26,)
    limited = load_emotic_clef(str(root), "train", streams={"context": raw}, limit=1)
    assert len(limited) == 1
