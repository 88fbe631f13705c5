"""Every registered fusion: shapes, mask invariance, ablated streams, gradients."""

from __future__ import annotations

import pytest
import torch

from emoscope.errors import UserError
from emoscope.models.fusion import build_fusion
from emoscope.registry import FUSIONS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


STUDY_FUSIONS = ("simple", "weighted", "attention", "bilinear", "bottleneck",
                 "cross_modal_transformer", "gated_residual", "hierarchical", "layer_norm",
                 "transformation")
STREAMS = ("context", "body", "face")
DIMS = (12, 10, 6)


def _features(n: int = 5, streams=STREAMS, dims=DIMS, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {s: torch.randn(n, d, generator=gen) for s, d in zip(streams, dims, strict=True)}


def _fusion(name: str, streams=STREAMS, dims=DIMS):
    torch.manual_seed(0)
    return build_fusion(name, list(dims), 7, streams=list(streams)).eval()


def test_the_ten_study_fusions_are_registered():
    assert set(STUDY_FUSIONS) <= set(FUSIONS.names())
    with pytest.raises(UserError, match="known fusions: attention"):
        FUSIONS.get("concat_everything")


@pytest.mark.parametrize("name", STUDY_FUSIONS)
def test_shape_and_masked_stream_changes_nothing(name):
    fusion = _fusion(name)
    feats = _features()
    mask = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 0]],
                        dtype=torch.float32)
    with torch.no_grad():
        out = fusion(feats, mask)
        assert out.shape == (5, 7)
        assert torch.isfinite(out).all()
        changed = {k: v.clone() for k, v in feats.items()}
        changed["body"][1] = float("nan")
        changed["context"][2] = 1e4
        changed["face"][3] = torch.randn(6)
        changed["face"][4] = -3.0
        changed["body"][4] = float("inf")
        again = fusion(changed, mask)
    assert torch.equal(out, again)
    # and the present streams do matter
    other = {k: v.clone() for k, v in feats.items()}
    other["face"][0] += torch.linspace(0.0, 2.0, 6)  # not a shift: layer_norm ignores those
    with torch.no_grad():
        assert not torch.allclose(fusion(other, mask)[0], out[0])


@pytest.mark.parametrize("name", STUDY_FUSIONS)
def test_no_gradient_reaches_a_masked_stream(name):
    fusion = _fusion(name).train()
    feats = {k: v.requires_grad_() for k, v in _features().items()}
    mask = torch.ones(5, 3)
    mask[:, 2] = 0  # face missing everywhere
    mask[0, 0] = 0
    fusion(feats, mask).square().sum().backward()
    assert feats["face"].grad.abs().sum() == 0
    assert feats["context"].grad[0].abs().sum() == 0
    assert feats["context"].grad[1:].abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in fusion.parameters())


@pytest.mark.parametrize("name", STUDY_FUSIONS)
@pytest.mark.parametrize("streams", [("context", "body"), ("body", "face"), ("face",)])
def test_ablated_streams(name, streams):
    dims = tuple(DIMS[STREAMS.index(s)] for s in streams)
    fusion = _fusion(name, streams, dims)
    feats = _features(4, streams, dims)
    with torch.no_grad():
        out = fusion(feats, torch.ones(4, len(streams)))
        assert fusion(feats).shape == out.shape == (4, 7)  # mask defaults to all present


def test_simple_is_a_linear_layer_on_the_zero_filled_concatenation():
    fusion = _fusion("simple")
    feats = _features(2)
    mask = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    cat = torch.cat([feats["context"], feats["body"] * mask[:, 1:2], feats["face"]], dim=1)
    expected = cat @ fusion.linear.weight.T + fusion.linear.bias
    torch.testing.assert_close(fusion(feats, mask), expected)


def test_weighted_renormalises_over_present_streams():
    fusion = _fusion("weighted")
    with torch.no_grad():
        fusion.logits.copy_(torch.log(torch.tensor([0.5, 0.3, 0.2])))
    assert fusion.stream_weights()["body"] == pytest.approx(0.3)
    feats = _features(1)
    proj = {s: fusion.project[i](feats[s]) for i, s in enumerate(STREAMS)}
    out = fusion(feats, torch.tensor([[1.0, 0.0, 1.0]]))
    torch.testing.assert_close(out, (0.5 * proj["context"] + 0.2 * proj["face"]) / 0.7)


def test_attention_weights_sum_to_one_over_present_streams():
    fusion = _fusion("attention")
    weights = fusion.attention(_features(3), torch.tensor([[1.0, 1, 1], [0, 1, 1], [0, 0, 0]]))
    torch.testing.assert_close(weights.sum(1), torch.tensor([1.0, 1.0, 0.0]))
    assert weights[1, 0] == 0


def test_hierarchical_groups_person_streams_first():
    fusion = _fusion("hierarchical")
    assert fusion.groups == [[2, 1], [0]]  # (face, body), (context)
    assert _fusion("hierarchical", ("context", "face"), (12, 6)).groups == [[1], [0]]


def test_wrong_inputs_fail_with_one_line():
    fusion = _fusion("simple")
    with pytest.raises(UserError, match="no features for stream"):
        fusion({"context": torch.zeros(2, 12)})
    with pytest.raises(UserError, match="mask of shape"):
        fusion(_features(2), torch.ones(2, 2))
