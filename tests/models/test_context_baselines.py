"""The CAER-S / EMOTIC baselines: CAER-Net-S (face + attention-pooled masked context, adaptive
fusion), EMOT-Net (body + whole image, 26 + 3 heads) and the face-only control."""

from __future__ import annotations

import pytest
import torch

from emoscope.models.caernet import SpatialAttentionPool
from emoscope.registry import MODELS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = "tiny_cnn_test"


def _caer_batch(n: int = 4) -> dict[str, torch.Tensor]:
    return {"face": torch.randn(n, 3, 32, 32), "context_masked": torch.randn(n, 3, 32, 32),
            "stream_mask": torch.tensor([[1.0, 0.0, 1.0]] * (n - 1) + [[1.0, 0.0, 0.0]])}


def test_caernet_s_outputs_and_masked_face():
    model = MODELS.build("caernet_s", face=TINY, context=TINY, width=16, hidden_dim=16).eval()
    batch = _caer_batch()
    assert model(batch)["logits"].shape == (4, 7)
    weights = model.stream_weights(batch)
    assert torch.allclose(weights.sum(1), torch.ones(4))
    assert weights[-1].tolist() == [0.0, 1.0]  # no face: the context stream decides alone
    # ... and then the face pixels cannot change the prediction
    changed = dict(batch, face=batch["face"].clone())
    changed["face"][-1] = 100.0
    with torch.no_grad():
        assert torch.allclose(model(changed)["logits"][-1], model(batch)["logits"][-1])
    assert set(model.preprocessing) == {"face", "context_masked"}


def test_spatial_attention_pool_weights_positions():
    pool = SpatialAttentionPool(channels=2)
    positions = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]]])
    pooled, weights = pool(positions)
    assert torch.allclose(weights.sum(1), torch.ones(1))
    assert torch.allclose(pooled, (positions * weights.unsqueeze(-1)).sum(1))


def test_caernet_s_learns_from_the_face():
    torch.manual_seed(0)
    model = MODELS.build("caernet_s", face=TINY, context=TINY, width=16, hidden_dim=16,
                         dropout=0.0, num_classes=2)
    labels = torch.arange(32) % 2
    faces = 0.1 * torch.randn(32, 3, 32, 32)
    faces[:, :, :16] += 2.0 * labels[:, None, None, None]  # bright top half for class 1
    batch = {"face": faces, "context_masked": torch.randn(32, 3, 32, 32)}
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(batch)["logits"], labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    assert (model(batch)["logits"].argmax(1) == labels).float().mean() > 0.9


def test_emotnet_has_body_and_whole_image_streams_and_26_plus_3_heads():
    model = MODELS.build("emotnet", body=TINY, image=TINY, body_size=32, image_size=32).eval()
    assert model.streams == ("context", "body")
    out = model({"context": torch.randn(2, 3, 32, 32), "body": torch.randn(2, 3, 32, 32)})
    assert out["categories"].shape == (2, 26) and out["vad"].shape == (2, 3)
    assert model.preprocessing["body"].input_size == (3, 32, 32)


def test_face_only_reads_only_the_face():
    model = MODELS.build("face_only", face=TINY).eval()
    batch = {"face": torch.randn(3, 3, 32, 32), "context": torch.randn(3, 3, 32, 32)}
    logits = model(batch)["logits"]
    assert logits.shape == (3, 7)
    assert torch.equal(model({"face": batch["face"]})["logits"], logits)
