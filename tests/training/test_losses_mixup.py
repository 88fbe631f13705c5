"""Focal loss, cross-entropy and MixUp against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from emoscope.registry import LOSSES
from emoscope.training.losses import CrossEntropy, FocalLoss, distillation_loss
from emoscope.training.mixup import mix_batch


def _softmax(row):
    exps = [math.exp(v) for v in row]
    return [e / sum(exps) for e in exps]


def test_focal_loss_matches_hand_computation():
    logits = [[2.0, 0.0, 0.0], [0.0, 1.0, -1.0]]
    targets = [0, 2]
    expected = 0.0
    for row, t in zip(logits, targets, strict=True):
        p = _softmax(row)[t]
        expected += -((1 - p) ** 2) * math.log(p)
    expected /= 2
    loss = FocalLoss(gamma=2.0)(torch.tensor(logits), torch.tensor(targets))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # first sample by hand: p = e^2 / (e^2 + 2) = 0.786986; (1-p)^2 = 0.045375,
    # -ln p = 0.239550, product 0.0108693
    single = FocalLoss(gamma=2.0)(torch.tensor([logits[0]]), torch.tensor([0]))
    assert single.item() == pytest.approx(0.0108693, abs=1e-6)


def test_focal_with_gamma_zero_is_cross_entropy_and_registry():
    logits = torch.tensor([[0.3, -1.2, 2.0, 0.1]])
    target = torch.tensor([1])
    focal = LOSSES.build("focal", gamma=0.0)(logits, target)
    ce = torch.nn.functional.cross_entropy(logits, target)
    assert focal.item() == pytest.approx(ce.item(), rel=1e-6)


def test_cross_entropy_label_smoothing_and_soft_targets():
    logits = torch.tensor([[1.0, 0.0, -1.0]])
    p = _softmax([1.0, 0.0, -1.0])
    # smoothing 0.3 over 3 classes: target distribution (0.8, 0.1, 0.1)
    expected = -(0.8 * math.log(p[0]) + 0.1 * math.log(p[1]) + 0.1 * math.log(p[2]))
    assert CrossEntropy(0.3)(logits, torch.tensor([0])).item() == pytest.approx(expected, 1e-6)
    soft = torch.tensor([[0.8, 0.1, 0.1]])
    assert CrossEntropy()(logits, soft).item() == pytest.approx(expected, 1e-6)
    weighted = CrossEntropy(class_weights=torch.tensor([2.0, 1.0, 1.0]))(logits, torch.tensor([0]))
    assert weighted.item() == pytest.approx(-2 * math.log(p[0]), 1e-6)


def test_distillation_is_zero_for_identical_logits_and_scaled_by_t_squared():
    logits = torch.tensor([[1.0, 2.0, 0.5]])
    assert distillation_loss(logits, logits, 4.0).item() == pytest.approx(0.0, abs=1e-7)
    student, teacher = torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]])
    q = _softmax([1.0, 0.0])  # teacher at T = 2
    kl = sum(qi * math.log(qi / 0.5) for qi in q)
    assert distillation_loss(student, teacher, 2.0).item() == pytest.approx(4 * kl, rel=1e-5)


def test_mixup_mixes_images_and_targets_with_one_weight_and_pairing():
    images = torch.arange(4 * 2, dtype=torch.float32).view(4, 2)
    labels = torch.tensor([0, 1, 2, 1])
    torch.manual_seed(3)
    (mixed,), soft = mix_batch((images,), labels, 3, 0.2, np.random.default_rng(7))
    lam = float(np.random.default_rng(7).beta(0.2, 0.2))
    torch.manual_seed(3)
    perm = torch.randperm(4)
    torch.testing.assert_close(mixed, lam * images + (1 - lam) * images[perm])
    onehot = torch.nn.functional.one_hot(labels, 3).float()
    torch.testing.assert_close(soft, lam * onehot + (1 - lam) * onehot[perm])
    torch.testing.assert_close(soft.sum(1), torch.ones(4))


def test_mixup_hand_computed_pair_and_off_switch():
    images = torch.tensor([[0.0], [10.0]])
    labels = torch.tensor([0, 1])
    torch.manual_seed(0)
    perm = torch.randperm(2)
    rng = np.random.default_rng(1)
    lam = float(np.random.default_rng(1).beta(0.2, 0.2))
    torch.manual_seed(0)
    (mixed,), soft = mix_batch((images,), labels, 2, 0.2, rng)
    if perm.tolist() == [1, 0]:
        assert mixed[0].item() == pytest.approx(10 * (1 - lam))
        assert soft[0].tolist() == pytest.approx([lam, 1 - lam])
    else:  # identity pairing leaves the batch unchanged
        torch.testing.assert_close(mixed, images)
    (same,), soft = mix_batch((images,), labels, 2, 0.0)
    assert same is images and soft.tolist() == [[1.0, 0.0], [0.0, 1.0]]


class _LeftRightTeacher(torch.nn.Module):
    """Logits (left-half mean, right-half mean, 0): mirroring the image swaps the first two."""

    def forward(self, images):
        half = images.shape[-1] // 2
        left, right = images[..., :half].mean((1, 2, 3)), images[..., half:].mean((1, 2, 3))
        return {"logits": torch.stack([left, right, torch.zeros_like(left)], dim=1)}


def test_a_flip_teacher_averages_the_probabilities_of_the_view_and_its_mirror():
    from emoscope.data.augment import FaceBatchTransform
    from emoscope.training.classifier_module import ClassifierModule
    from emoscope.training.config import DistillConfig, OptimConfig

    images = torch.zeros(2, 3, 4, 4)
    images[0, :, :, :2] = 3.0  # bright left half: logits (3, 0, 0), mirrored (0, 3, 0)
    images[1, :, :, 2:] = 1.0  # bright right half: logits (0, 1, 0), mirrored (1, 0, 0)

    def module(flip: bool) -> ClassifierModule:
        return ClassifierModule(torch.nn.Identity(), CrossEntropy(), OptimConfig(),
                                FaceBatchTransform(4, (0.5,) * 3, (0.5,) * 3), 3,
                                teacher=_LeftRightTeacher(), teacher_size=4,
                                distill=DistillConfig(teacher_flip=flip))

    plain = module(False).teacher_logits(images)
    torch.testing.assert_close(plain, torch.tensor([[3.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    averaged = module(True).teacher_logits(images).exp()
    for row, (a, b) in enumerate([(3.0, 0.0), (0.0, 1.0)]):
        p = torch.tensor([a, b, 0.0]).softmax(0)
        mirror = torch.tensor([b, a, 0.0]).softmax(0)
        torch.testing.assert_close(averaged[row], (p + mirror) / 2)
    # the mean of the probabilities, not the softmax of the mean logits
    assert averaged[0, 2].item() == pytest.approx(1 / (math.exp(3) + 2), rel=1e-5)
