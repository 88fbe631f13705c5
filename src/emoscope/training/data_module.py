"""Lightning data module over decoded in-memory faces: batches are uint8 index gathers."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from emoscope.data.faces import FaceArrays
from emoscope.errors import UserError
from emoscope.training.resume import ResumableLoader


class FaceTensorDataset(Dataset):
    """Index -> (uint8 image tensor (C, H, W), target). Targets are class ids or distributions."""

    def __init__(self, arrays: FaceArrays, soft_labels: bool = False):
        images = torch.from_numpy(np.ascontiguousarray(arrays.images))
        self.images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
        use_soft = soft_labels and arrays.soft_labels is not None
        self.targets = torch.from_numpy(arrays.soft_labels if use_soft else arrays.labels)
        self.labels = torch.from_numpy(arrays.labels)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index], self.targets[index], self.labels[index]


def class_balanced_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-sample weights 1 / count(class) so every class is drawn equally often."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    per_class = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    return per_class[labels]


def inverse_frequency(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """Class weights n / (C * count), mean 1 over present classes."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (num_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


SAMPLERS = ("random", "class_weighted")


def check_sampler(name: str) -> None:
    if name not in SAMPLERS:
        raise UserError(f"trainer.sampler must be one of {', '.join(SAMPLERS)}, got '{name}'")


def training_loader(dataset: Dataset, labels: np.ndarray, num_classes: int, batch_size: int,
                    sampler: str = "random", seed: int = 0,
                    drop_last: bool = True) -> DataLoader:
    """Shuffled batches (``random``) or class-balanced draws with replacement
    (``class_weighted``), both from a generator seeded by ``seed`` and kept in checkpoints."""
    generator = torch.Generator().manual_seed(seed)
    if sampler == "class_weighted":
        weights = class_balanced_weights(labels, num_classes)
        draws = WeightedRandomSampler(torch.as_tensor(weights), len(weights), replacement=True,
                                      generator=generator)
        return ResumableLoader(dataset, batch_size, sampler=draws, drop_last=drop_last)
    check_sampler(sampler)
    return ResumableLoader(dataset, batch_size, shuffle=True, drop_last=drop_last,
                           generator=generator)


class FaceDataModule(L.LightningDataModule):
    def __init__(self, train: FaceArrays, val: FaceArrays, batch_size: int, eval_batch_size: int,
                 sampler: str = "random", soft_labels: bool = False, seed: int = 0):
        super().__init__()
        self.train_set = FaceTensorDataset(train, soft_labels)
        self.val_set = FaceTensorDataset(val, False)
        self.train_arrays = train
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.sampler = sampler
        self.seed = seed

    def train_dataloader(self) -> DataLoader:
        return training_loader(self.train_set, self.train_arrays.labels,
                               self.train_arrays.label_space.num_classes, self.batch_size,
                               self.sampler, self.seed)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, self.eval_batch_size, shuffle=False)
