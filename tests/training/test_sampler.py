"""Class-balanced sampling weights, inverse-frequency class weights and the data module."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emoscope.data.faces import FaceArrays
from emoscope.labels import LabelSpace
from emoscope.training.data_module import (
    FaceDataModule,
    class_balanced_weights,
    inverse_frequency,
)

SPACE = LabelSpace("abc", "single_label", ("a", "b", "c", "d"))


def test_class_balanced_weights_by_hand():
    labels = np.array([0, 0, 0, 1, 2, 2])
    weights = class_balanced_weights(labels, 4)
    np.testing.assert_allclose(weights, [1 / 3, 1 / 3, 1 / 3, 1.0, 0.5, 0.5])
    per_class = [weights[labels == c].sum() for c in range(3)]
    np.testing.assert_allclose(per_class, [1.0, 1.0, 1.0])


def test_inverse_frequency_by_hand():
    labels = np.array([0, 0, 0, 1, 2, 2])
    # n / (C * count) with C = 4 classes, class 3 absent -> 0
    torch.testing.assert_close(inverse_frequency(labels, 4),
                               torch.tensor([6 / 12, 6 / 4, 6 / 8, 0.0]))


def test_class_weighted_loader_draws_classes_equally():
    labels = np.array([0] * 90 + [1] * 9 + [2] * 1)
    arrays = FaceArrays(np.zeros((100, 4, 4), np.uint8), labels, SPACE)
    module = FaceDataModule(arrays, arrays, batch_size=50, eval_batch_size=100,
                            sampler="class_weighted", seed=1)
    drawn = []
    for _ in range(20):
        for _, _, batch_labels in module.train_dataloader():
            drawn.append(batch_labels)
    shares = np.bincount(torch.cat(drawn).numpy(), minlength=3) / len(torch.cat(drawn))
    assert shares == pytest.approx([1 / 3, 1 / 3, 1 / 3], abs=0.04)
    plain = FaceDataModule(arrays, arrays, 50, 100, sampler="random", seed=1)
    first = torch.cat([b[2] for b in plain.train_dataloader()]).numpy()
    assert np.bincount(first, minlength=3).tolist() == [90, 9, 1]


def test_grey_and_rgb_batches_are_channels_first():
    grey = FaceArrays(np.zeros((2, 5, 6), np.uint8), np.array([0, 1]), SPACE)
    rgb = FaceArrays(np.zeros((2, 5, 6, 3), np.uint8), np.array([0, 1]), SPACE)
    for arrays, channels in ((grey, 1), (rgb, 3)):
        module = FaceDataModule(arrays, arrays, 2, 2)
        images, _, _ = next(iter(module.val_dataloader()))
        assert images.shape == (2, channels, 5, 6)
