"""The multi-stream model learns on synthetic images where each stream carries its own labels:
the loss falls and the training mAP rises well above chance."""

from __future__ import annotations

import pytest
import torch

from emoscope.evaluation.multilabel import mean_average_precision
from emoscope.models.multistream import MultiStreamModel
from emoscope.models.streams import STREAMS
from emoscope.registry import LOSSES

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _synthetic(n: int, seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Two categories per stream: a bright square top-left (first) or bottom-right (second);
    VAD = (context, body, face) square count difference. Every fourth face is masked."""
    gen = torch.Generator().manual_seed(seed)
    labels = (torch.rand(n, 6, generator=gen) < 0.4).float()
    batch: dict[str, torch.Tensor] = {}
    for i, stream in enumerate(STREAMS):
        images = 0.1 * torch.randn(n, 3, 32, 32, generator=gen)
        images[:, :, 2:12, 2:12] += 2 * labels[:, 2 * i, None, None, None]
        images[:, :, 20:30, 20:30] += 2 * labels[:, 2 * i + 1, None, None, None]
        batch[stream] = images
    mask = torch.ones(n, 3)
    mask[::4, 2] = 0
    batch["face"][::4] = torch.randn(len(range(0, n, 4)), 3, 32, 32, generator=gen)
    batch["stream_mask"] = mask
    categories = labels.clone()
    categories[::4, 4:] = 0  # what a hidden face shows cannot be a label
    vad = torch.stack([labels[:, 0] - labels[:, 1], labels[:, 2] - labels[:, 3],
                       categories[:, 4] - categories[:, 5]], dim=1)
    return batch, {"categories": categories, "vad": vad}


def test_three_stream_model_learns():
    torch.manual_seed(0)
    model = MultiStreamModel(context="tiny_cnn_test", body="tiny_cnn_test", face="tiny_cnn_test",
                             fusion="weighted", fusion_dim=32,
                             head_kwargs={"num_categories": 6, "dropout": 0.0})
    loss_fn = LOSSES.build("combined", categorical="bce", vad="l2", categorical_weight=1.0,
                           vad_weight=1.0)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch, targets = _synthetic(96)
    losses = []
    model.train()
    for step in range(40):
        rows = torch.arange(step * 24, step * 24 + 24) % 96
        part = {k: v[rows] for k, v in batch.items()}
        loss = loss_fn(model(part), {k: v[rows] for k, v in targets.items()})["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5  # about 0.4 when run
    model.eval()
    with torch.no_grad():
        scores = torch.sigmoid(model(batch)["categories"]).numpy()
    report = mean_average_precision(targets["categories"].numpy(), scores)
    assert report["mAP"] > 0.8  # chance is the positive rate, about 0.4
