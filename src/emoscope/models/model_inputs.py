"""Decoded uint8 faces as the input a model card's network takes: its channels, size and
normalisation, as torch batches or (without torch) as numpy arrays."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from emoscope.models.files.checkpoint import ModelCard

if TYPE_CHECKING:  # torch is imported where a PyTorch model runs
    import torch


def model_channels(batch: np.ndarray, grayscale: bool) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, 3) -> uint8 (N, C, H, W); RGB becomes grey for grey models."""
    if batch.ndim == 4 and grayscale:
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601 luma, as PIL "L"
        batch = np.clip(np.rint(batch.astype(np.float32) @ weights), 0, 255).astype(np.uint8)
    batch = np.ascontiguousarray(batch)
    return batch[:, None] if batch.ndim == 3 else batch.transpose(0, 3, 1, 2)


def model_channels_tensor(batch: np.ndarray, grayscale: bool) -> torch.Tensor:
    """``model_channels`` as a torch tensor."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(model_channels(batch, grayscale)))


def model_input_arrays(card: ModelCard, images: np.ndarray,
                       batch_size: int = 256) -> Iterator[np.ndarray]:
    """``model_input_batches`` in numpy (float32, NCHW): the same values, without torch."""
    from emoscope.data.resize import resize_bilinear

    channels, height, _ = card.preprocessing.input_size
    shape = (1, -1, 1, 1)
    mean = np.asarray(card.preprocessing.mean, np.float32).reshape(shape)
    std = np.asarray(card.preprocessing.std, np.float32).reshape(shape)
    for start in range(0, len(images), batch_size):
        x = model_channels(images[start:start + batch_size], card.grayscale)
        x = x.astype(np.float32) / np.float32(255.0)
        if x.shape[1] == 1:
            x = np.repeat(x, 3, axis=1)
        x = (resize_bilinear(x, height, height) - mean) / std
        yield np.ascontiguousarray(x[:, :channels])


def model_input_batches(card: ModelCard, images: np.ndarray, batch_size: int = 256,
                        device: str | torch.device = "cpu") -> Iterator[torch.Tensor]:
    """Decoded uint8 faces as the normalised float batches the card's model takes."""
    from emoscope.data.augment import FaceBatchTransform

    channels, height, _ = card.preprocessing.input_size
    transform = FaceBatchTransform(height, card.preprocessing.mean, card.preprocessing.std)
    for start in range(0, len(images), batch_size):
        batch = model_channels_tensor(images[start:start + batch_size], card.grayscale).to(device)
        yield transform(batch, train=False)[:, :channels]
