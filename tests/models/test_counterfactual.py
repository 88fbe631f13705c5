"""CLEF: TE/NDE/TIE arithmetic on hand-made numbers, both fusions, the KL term and its
gradient to Y_e*, the multi-label variant staying finite and learning, the model card round
trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from emoscope.errors import UserError
from emoscope.evaluation.multilabel import mean_average_precision
from emoscope.models.counterfactual import (
    CounterfactualModel,
    causal_effects,
    fused_log_prob,
    log1mexp,
    soft_clamp,
)
from emoscope.models.files.checkpoint import ModelCard, load_model, save_model
from emoscope.training.losses_counterfactual import CounterfactualLoss, kl_to_counterfactual

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class FixedLogits(nn.Module):
    """A 'factual model' whose logits are given: the arithmetic can be checked by hand."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = nn.Parameter(logits.clone())

    def forward(self, batch):
        return {"logits": self.logits.expand(batch["context_masked"].shape[0], -1),
                "vad": torch.ones(batch["context_masked"].shape[0], 3)}


def test_effects_on_hand_made_numbers():
    factual = torch.tensor([[1.0, 2.0]])
    no_subject = torch.tensor([[0.5, 0.5]])
    nothing = torch.tensor([[0.2, 0.1]])
    effects = causal_effects(factual, no_subject, nothing)
    assert torch.allclose(effects["te"], torch.tensor([[0.8, 1.9]]))
    assert torch.allclose(effects["nde"], torch.tensor([[0.3, 0.4]]))
    assert torch.allclose(effects["tie"], torch.tensor([[0.5, 1.5]]))  # = factual - no_subject


def test_fusions_on_hand_made_numbers():
    zero = torch.zeros(1, 2)
    # sum, multi-label: log sigmoid(0 + 0) = log 0.5; harmonic: z = 0.25, p = 0.25 / 1.25 = 0.2
    assert torch.allclose(fused_log_prob(zero, zero, "sum", "multi_label"),
                          torch.full((1, 2), math.log(0.5)))
    assert torch.allclose(fused_log_prob(zero, zero, "harmonic", "multi_label"),
                          torch.full((1, 2), math.log(0.2)))
    # sum, single-label: softmax(0 + [ln 3, 0]) = [0.75, 0.25]
    subject = torch.tensor([[math.log(3.0), 0.0]])
    assert torch.allclose(fused_log_prob(zero, subject, "sum", "single_label").exp(),
                          torch.tensor([[0.75, 0.25]]))
    # harmonic single-label: p_k = z_k / (1 + z_k) renormalised; z = [0.5 * 0.75, 0.25]
    z = torch.tensor([0.375, 0.25])
    expected = (z / (1 + z)) / (z / (1 + z)).sum()
    assert torch.allclose(fused_log_prob(zero, subject, "harmonic", "single_label").exp()[0],
                          expected)
    with pytest.raises(UserError, match="unknown counterfactual fusion 'max'"):
        fused_log_prob(zero, zero, "max", "single_label")


def test_log1mexp_and_soft_clamp():
    p = torch.tensor([1e-9, 0.3, 0.5, 0.999999])
    assert torch.allclose(log1mexp(p.log()), torch.log1p(-p), rtol=1e-4)
    big = torch.tensor([-1000.0, 0.5, 1000.0])
    clamped = soft_clamp(big, 12.0)
    assert clamped[0] == pytest.approx(-12.0) and clamped[2] == pytest.approx(12.0)
    assert clamped[1] == pytest.approx(0.5, abs=1e-3)
    assert torch.equal(soft_clamp(big, 0.0), big)


def _clef(subject: list[float], kind: str = "single_label", fusion: str = "sum",
          space: str | None = None) -> CounterfactualModel:
    factual = FixedLogits(torch.tensor([subject]))
    return CounterfactualModel(factual, len(subject), context_backbone="tiny_cnn_test",
                               kind=kind, fusion=fusion, space=space, clamp=0.0,
                               factual_config={"architecture": "fixed", "kwargs": {}})


def test_model_tie_is_factual_minus_counterfactual():
    model = _clef([2.0, 0.0, -1.0]).eval()
    batch = {"context_masked": torch.randn(4, 3, 32, 32)}
    out = model(batch)
    context = out["context"]
    expected = (torch.log_softmax(context + torch.tensor([2.0, 0.0, -1.0]), 1)
                - torch.log_softmax(context, 1))  # Y_e* starts at zero logits (uniform)
    assert torch.allclose(out["tie"], expected, atol=1e-6)
    assert torch.allclose(out["te"] - out["nde"], out["tie"], atol=1e-6)
    assert torch.equal(out["logits"], out["tie"])  # the factual key now carries TIE
    assert torch.equal(out["vad"], torch.ones(4, 3))  # other factual outputs pass through
    # sum fusion in log space: argmax TIE = argmax(Y_e - Y_e*), whatever the context says
    assert (out["tie"].argmax(1) == 0).all()
    with pytest.raises(UserError, match="no 'context_masked'"):
        model({"context": torch.zeros(1, 3, 32, 32)})


def test_harmonic_tie_depends_on_the_context():
    model = _clef([2.0, 0.0, -1.0], fusion="harmonic", space="prob").eval()
    out = model({"context_masked": torch.randn(6, 3, 32, 32)})
    assert torch.allclose(out["tie"], model.phi(out["context"], out["factual"])
                          - model.phi(out["context"], torch.zeros(6, 3)), atol=1e-6)
    assert out["tie"].abs().max() <= 1.0  # differences of probabilities


def test_kl_moves_only_the_counterfactual_vector():
    model = _clef([2.0, 0.0, -1.0])
    batch = {"context_masked": torch.randn(8, 3, 32, 32)}
    loss_fn = CounterfactualLoss(factual_weight=0.0, context_weight=0.0, kl_weight=1.0)
    parts = loss_fn(model(batch), torch.zeros(8, dtype=torch.long), model)
    assert parts["kl"] > 0
    parts["loss"].backward()
    assert model.no_subject.grad is not None and model.no_subject.grad.abs().sum() > 0
    assert model.factual.logits.grad is None or model.factual.logits.grad.abs().sum() == 0
    assert all(p.grad is None or p.grad.abs().sum() == 0
               for p in model.context_branch.parameters())


def test_kl_is_zero_for_equal_distributions_and_known_otherwise():
    p = torch.log(torch.tensor([[0.5, 0.5]]))
    q = torch.log(torch.tensor([[0.25, 0.75]]))
    assert kl_to_counterfactual(p, p, multi_label=False) == pytest.approx(0.0, abs=1e-7)
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl_to_counterfactual(p, q, multi_label=False) == pytest.approx(expected, rel=1e-5)
    # multi-label: Bernoulli KL per class, averaged
    bern = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl_to_counterfactual(torch.log(torch.tensor([[0.5]])), torch.log(torch.tensor(
        [[0.25]])), multi_label=True) == pytest.approx(bern, rel=1e-5)


def test_counterfactual_vector_learns_the_context_prior():
    """Trained on the KL alone, Y_e* converges so phi(Y_c, Y_e*) matches the factual output."""
    model = _clef([3.0, 0.0, 0.0])
    batch = {"context_masked": torch.zeros(4, 3, 32, 32)}
    loss_fn = CounterfactualLoss(0.0, 0.0, 1.0)
    optimiser = torch.optim.Adam([model.no_subject], lr=0.1)
    with torch.no_grad():
        outputs = model(batch)  # the KL sees the branches detached: only Y_e* moves
    for _ in range(200):
        loss = loss_fn(outputs, torch.zeros(4, dtype=torch.long), model)["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    # the best constant is Y_e itself (up to a shift): TIE becomes ~0 for every class
    assert model(batch)["tie"].abs().max() < 0.05


def _multilabel_batch(n: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    labels = (torch.rand(n, 4, generator=gen) < 0.4).float()
    images = 0.1 * torch.randn(n, 3, 32, 32, generator=gen)
    for c in range(4):
        images[:, :, 2 + 7 * c:7 + 7 * c, 2:12] += 2 * labels[:, c, None, None, None]
    return {"context": images, "body": images.clone(), "context_masked": images.clone()}, labels


def test_multilabel_clef_stays_finite_and_learns():
    torch.manual_seed(0)
    factual = {"architecture": "multistream",
               "kwargs": {"context": "tiny_cnn_test", "body": "tiny_cnn_test",
                          "fusion_dim": 16, "heads": "multilabel",
                          "head_kwargs": {"num_classes": 4}}}
    model = CounterfactualModel(factual, 4, context_backbone="tiny_cnn_test",
                                kind="multi_label", clamp=12.0)
    assert model.space == "prob"
    loss_fn = CounterfactualLoss(warmup_steps=10)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch, labels = _multilabel_batch(64)
    losses = []
    for step in range(50):
        rows = torch.arange(step * 16, step * 16 + 16) % 64
        parts = loss_fn(model({k: v[rows] for k, v in batch.items()}), labels[rows], model, step)
        optimiser.zero_grad()
        parts["loss"].backward()
        optimiser.step()
        losses.append(float(parts["loss"].detach()))
    assert all(np.isfinite(losses))
    model.eval()
    with torch.no_grad():
        out = model(batch)
    assert torch.equal(out["categories"], out["tie"])
    report = mean_average_precision(labels.numpy(), out["tie"].numpy())
    assert report["mAP"] > 0.7  # chance is the positive rate, about 0.4


def test_clef_card_round_trip(tmp_path):
    torch.manual_seed(0)
    factual = {"architecture": "caernet_s",
               "kwargs": {"face": "tiny_cnn_test", "context": "tiny_cnn_test", "width": 16,
                          "hidden_dim": 16, "image_sizes": {"face": 32, "context_masked": 32}}}
    model = CounterfactualModel(factual, 7, context_backbone="tiny_cnn_test").eval()
    with torch.no_grad():
        model.no_subject.copy_(torch.arange(7.0))
    from emoscope.labels import CAER_S_LABELS

    card = ModelCard("clef-tiny", "clef", model.config, CAER_S_LABELS, model.preprocessing)
    save_model(model, card, tmp_path / "clef")
    loaded, loaded_card = load_model(tmp_path / "clef.json")
    batch = {"face": torch.randn(2, 3, 32, 32), "context_masked": torch.randn(2, 3, 32, 32)}
    with torch.no_grad():
        assert torch.allclose(loaded(batch)["tie"], model(batch)["tie"], atol=1e-6)
    assert loaded_card.architecture == "clef"
    with pytest.raises(UserError, match="cannot itself be a clef model"):
        CounterfactualModel({"architecture": "clef"}, 7)
