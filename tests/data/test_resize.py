"""Bilinear resizing in numpy gives what torch's evaluation transform gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emoscope.data.resize import resize_bilinear


@pytest.mark.parametrize("shape, size", [((48, 48), (64, 64)), ((48, 48), (48, 48)),
                                         ((96, 96), (64, 64)), ((100, 80), (64, 64)),
                                         ((48, 48), (224, 224))])
def test_matches_torch_interpolate(shape, size):
    images = np.random.default_rng(0).uniform(0, 1, (2, 3, *shape)).astype(np.float32)
    expected = F.interpolate(torch.from_numpy(images), size=size, mode="bilinear",
                             align_corners=False, antialias=size[1] < shape[1]).numpy()
    got = resize_bilinear(images, *size)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.abs(got - expected).max() < 1e-5
