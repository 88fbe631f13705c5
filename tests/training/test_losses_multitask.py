"""Masked multi-task losses: missing labels get no gradient; values equal hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emoscope.evaluation.multilabel import ccc
from emoscope.training.losses_multitask import MultiTaskLoss, ccc_loss

NAN = float("nan")


def _batch():
    torch.manual_seed(0)
    outputs = {"logits": torch.randn(4, 8, requires_grad=True),
               "valence_arousal": torch.tanh(torch.randn(4, 2)).requires_grad_(True),
               "action_units": torch.randn(4, 12, requires_grad=True)}
    au = torch.randint(0, 2, (4, 12)).float()
    au[1] = -1
    au[2, :3] = -1
    targets = {"expression": torch.tensor([3, -1, 0, -1]),
               "valence_arousal": torch.tensor([[0.1, 0.2], [0.5, -0.5], [NAN, NAN],
                                                [-0.3, 0.9]]),
               "action_units": au}
    return outputs, targets


def test_missing_labels_send_no_gradient():
    outputs, targets = _batch()
    MultiTaskLoss()(outputs, targets)["loss"].backward()
    g_expr = outputs["logits"].grad
    assert g_expr[[1, 3]].abs().sum() == 0 and g_expr[[0, 2]].abs().sum() > 0
    g_va = outputs["valence_arousal"].grad
    assert g_va[2].abs().sum() == 0 and g_va[[0, 1, 3]].abs().sum() > 0
    g_au = outputs["action_units"].grad
    assert g_au[1].abs().sum() == 0 and g_au[2, :3].abs().sum() == 0
    assert g_au[2, 3:].abs().sum() > 0


def test_terms_equal_hand_computed_values():
    outputs, targets = _batch()
    parts = MultiTaskLoss(va_loss="mse")(outputs, targets)
    expected_ce = F.cross_entropy(outputs["logits"][[0, 2]], torch.tensor([3, 0]))
    assert parts["expression"].item() == pytest.approx(expected_ce.item(), rel=1e-6)
    va = outputs["valence_arousal"].detach()[[0, 1, 3]]
    t = targets["valence_arousal"][[0, 1, 3]]
    assert parts["valence_arousal"].item() == pytest.approx(((va - t) ** 2).mean().item(),
                                                            rel=1e-6)
    mask = targets["action_units"] >= 0
    logits, au = outputs["action_units"].detach()[mask], targets["action_units"][mask]
    p = torch.sigmoid(logits)
    bce = -(au * torch.log(p) + (1 - au) * torch.log(1 - p)).mean()
    assert parts["action_units"].item() == pytest.approx(bce.item(), rel=1e-5)
    total = parts["expression"] + parts["valence_arousal"] + parts["action_units"]
    assert parts["loss"].item() == pytest.approx(total.item(), rel=1e-6)


def test_ccc_loss_is_one_minus_the_formula():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    expected = 1 - (ccc(x[:, 0], y[:, 0]) + ccc(x[:, 1], y[:, 1])) / 2
    value = ccc_loss(torch.tensor(x), torch.tensor(y)).item()
    assert value == pytest.approx(expected, rel=1e-6)
    assert ccc_loss(torch.tensor(x), torch.tensor(x)).item() == pytest.approx(0.0, abs=1e-6)


def test_task_without_labels_and_weights():
    outputs, targets = _batch()
    targets["expression"][:] = -1
    parts = MultiTaskLoss(expression_weight=1.0, va_weight=0.0, au_weight=2.0)(outputs, targets)
    assert parts["expression"].item() == 0.0 and "valence_arousal" not in parts
    assert parts["loss"].item() == pytest.approx(2 * parts["action_units"].item(), rel=1e-6)


def test_uncertainty_weighting_learns_log_variances():
    outputs, targets = _batch()
    loss = MultiTaskLoss(uncertainty=True)
    with torch.no_grad():
        loss.log_vars.copy_(torch.tensor([math.log(2.0), 0.0, 0.0]))
    parts = loss(outputs, targets)
    expected = (parts["expression"] / 2 + math.log(2.0) + parts["valence_arousal"]
                + parts["action_units"])
    assert parts["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    parts["loss"].backward()
    assert loss.log_vars.grad is not None and loss.log_vars.grad.abs().sum() > 0
