"""Multi-label and VAD losses against numbers computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from emoscope.errors import UserError
from emoscope.registry import LOSSES
from emoscope.training.losses import FocalLoss
from emoscope.training.losses_multilabel import discrete_class_weights

LN3 = math.log(3.0)


def _loss(name, logits, targets, **kwargs):
    return LOSSES.build(name, **kwargs)(torch.tensor(logits), torch.tensor(targets)).item()


def test_names_of_the_study_are_registered():
    assert {"bce", "discrete", "focal", "asl", "dice", "mllsc", "smooth_l1", "l2",
            "combined"} <= set(LOSSES.names())


def test_bce():
    # p = (0.5, 0.75): -ln 0.5 - ln 0.25 = ln 8
    assert _loss("bce", [[0.0, LN3]], [[1.0, 0.0]]) == pytest.approx(math.log(8), rel=1e-6)
    two = _loss("bce", [[0.0, LN3], [0.0, LN3]], [[1.0, 0.0], [1.0, 0.0]], reduction="sum")
    assert two == pytest.approx(2 * math.log(8), rel=1e-6)


def test_discrete_weights_and_value():
    targets = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])  # n_c = 2, 1, 0
    weights = discrete_class_weights(targets)
    # 1/ln(3.2) = 0.859734, 1/ln(2.2) = 1.268301, empty class 1e-4
    torch.testing.assert_close(weights, torch.tensor([0.859734, 1.268301, 1e-4]),
                               rtol=1e-5, atol=1e-7)
    # sigmoid(0) = 0.5 everywhere: each squared error is 0.25; per sample
    # 0.25 * (0.859734 + 1.268301 + 0.0001) = 0.532034
    logits = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    assert _loss("discrete", logits, targets.tolist()) == pytest.approx(0.532034, abs=1e-6)
    assert _loss("discrete", logits, targets.tolist(), reduction="sum") == pytest.approx(
        1.064067, abs=1e-6)
    # raw outputs (the PyTorch reference's variant): error (2 - 1)^2 on class 0 only
    raw = _loss("discrete", [[2.0, 0.0, 0.0]], [[1.0, 0.0, 0.0]], apply_sigmoid=False)
    assert raw == pytest.approx(1 / math.log(2.2), rel=1e-6)


def test_discrete_weights_carry_no_gradient():
    logits = torch.zeros(2, 3, requires_grad=True)
    LOSSES.build("discrete")(logits, torch.tensor([[1.0, 0, 0], [0, 1, 0]])).backward()
    # d/dx w (s - y)^2 = 2 w (s - y) s (1 - s); class 0: w = 1/ln 2.2, s - y = -0.5
    assert logits.grad[0, 0].item() == pytest.approx(2 * (-0.5) * 0.25 / math.log(2.2) / 2,
                                                     rel=1e-5)


def test_asl_defaults_and_easy_negatives():
    # p = 0.5: positive -ln 0.5 (gamma+ = 0); negative p_m = 0.45: 0.45^4 * -ln 0.55
    expected = math.log(2) + 0.45 ** 4 * -math.log(0.55)  # 0.693147 + 0.024515
    assert _loss("asl", [[0.0, 0.0]], [[1.0, 0.0]]) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.717662, abs=1e-6)
    # p = sigmoid(-4) = 0.018 < margin 0.05: the negative costs nothing
    assert _loss("asl", [[-4.0]], [[0.0]]) == 0.0
    # no margin, gammas 0: plain BCE
    assert _loss("asl", [[0.0, LN3]], [[1.0, 0.0]], gamma_neg=0.0, margin=0.0) == pytest.approx(
        math.log(8), rel=1e-6)


def test_focal_multi_label():
    # p = 0.5: (1 - 0.5)^2 * ln 2 = 0.173287 for a positive and a negative alike
    assert FocalLoss(multi_label=True)(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]])).item() \
        == pytest.approx(2 * 0.25 * math.log(2), rel=1e-6)
    weighted = _loss("focal", [[0.0, 0.0]], [[1.0, 0.0]], multi_label=True, alpha=0.25)
    assert weighted == pytest.approx((0.25 + 0.75) * 0.173287, abs=1e-6)
    # gamma 0 is BCE
    assert _loss("focal", [[0.0, LN3]], [[1.0, 0.0]], multi_label=True, gamma=0.0) == \
        pytest.approx(math.log(8), rel=1e-6)


def test_dice():
    # p = (0.5, 0.5), y = (1, 0): 1 - (2 * 0.5 + 1) / (1 + 1 + 1) = 1/3
    assert _loss("dice", [[0.0, 0.0]], [[1.0, 0.0]]) == pytest.approx(1 / 3, rel=1e-6)
    assert _loss("dice", [[20.0, -20.0]], [[1.0, 0.0]]) == pytest.approx(0.0, abs=1e-6)


def test_mllsc():
    # soft margin: mean(softplus(-1), softplus(-1)) = ln(1 + e^-1) = 0.313262
    # ranking: one (negative, positive) pair, log(1 + e^(-1 - 1)) = 0.126928
    value = _loss("mllsc", [[1.0, -1.0]], [[1.0, 0.0]])
    assert value == pytest.approx(math.log(1 + math.exp(-1)) + math.log(1 + math.exp(-2)),
                                  rel=1e-6)
    assert value == pytest.approx(0.440190, abs=1e-6)
    # no negative: only the soft margin; pair_weight 0: MultiLabelSoftMarginLoss
    assert _loss("mllsc", [[1.0]], [[1.0]]) == pytest.approx(math.log(1 + math.exp(-1)))
    x, y = torch.randn(4, 5), (torch.rand(4, 5) > 0.5).float()
    torch.testing.assert_close(LOSSES.build("mllsc", pair_weight=0.0)(x, y),
                               torch.nn.MultiLabelSoftMarginLoss()(x, y))


def test_vad_losses():
    pred, target = [[0.0, 0.0, 0.0]], [[0.5, 2.0, -1.0]]
    # smooth L1 (beta 1): 0.5 * 0.25, 2 - 0.5, 1 - 0.5
    assert _loss("smooth_l1", pred, target) == pytest.approx(0.125 + 1.5 + 0.5)
    assert _loss("l2", pred, target) == pytest.approx(0.25 + 4 + 1)


def test_combined_weights_terms_and_masks_missing_labels():
    loss = LOSSES.build("combined", categorical="bce", vad="l2", categorical_weight=0.5,
                        vad_weight=2.0)
    outputs = {"categories": torch.tensor([[0.0, LN3], [5.0, 5.0]]),
               "vad": torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])}
    targets = {"categories": torch.tensor([[1.0, 0.0], [float("nan"), 1.0]]),
               "vad": torch.tensor([[0.5, 2.0, -1.0], [1.0, 1.0, 1.0]])}
    parts = loss(outputs, targets)
    assert parts["categories"].item() == pytest.approx(math.log(8), rel=1e-6)  # row 2 masked
    assert parts["vad"].item() == pytest.approx(5.25 / 2)
    assert parts["loss"].item() == pytest.approx(0.5 * math.log(8) + 2.0 * 2.625, rel=1e-6)
    only_categories = loss({"categories": outputs["categories"]}, targets)
    assert set(only_categories) == {"loss", "categories"}
    with pytest.raises(UserError, match="no output/target pair"):
        loss({"logits": torch.zeros(1, 2)}, targets)


def test_all_losses_backpropagate():
    logits = torch.randn(6, 26, requires_grad=True)
    targets = (torch.rand(6, 26) > 0.8).float()
    for name in ("bce", "discrete", "asl", "dice", "mllsc"):
        logits.grad = None
        LOSSES.build(name)(logits, targets).backward()
        assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0, name
