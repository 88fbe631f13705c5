"""Exact resume: the random state a run draws from travels in its checkpoints.

A run killed after epoch k and resumed must draw the same batches, augmentations, MixUp pairs
and crops as the uninterrupted run. Lightning restores weights, optimiser, schedulers and
callbacks (EMA, early stopping), but not the random generators: the training loader's
shuffling generator, the process-wide ``random`` / numpy / torch (CPU and CUDA) generators
(augmentation, MixUp, dropout, worker seeds) and a dataset's own ``rng`` (random crops).

``ResumableLoader`` is a ``DataLoader`` that Lightning sees as stateful, so Lightning saves its
``state_dict`` in every checkpoint (beside the loop state). Lightning restores such states only
when it builds the loader after the checkpoint was read, but a per-step schedule asks for the
number of steps earlier and so builds the loader first: ``RestoreRandomState`` therefore puts
the saved state back when training starts, and the loader draws nothing (not even the worker
seed) before its first batch is asked for. Every state is stored as tensors, ints, floats and
strings, so checkpoints still load with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

log = logging.getLogger(__name__)


def _numpy_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "gauss": float(gauss)}


def _set_numpy_state(state: dict[str, Any]) -> None:
    keys = state["keys"].numpy().astype(np.uint32)
    np.random.set_state((state["name"], keys, state["pos"], state["has_gauss"], state["gauss"]))


def _generator_state(rng: np.random.Generator) -> dict[str, Any]:
    # PCG64's 128-bit integers are kept as decimal strings (weights-only loading takes them)
    state = rng.bit_generator.state
    return {"bit_generator": state["bit_generator"],
            "state": {k: str(v) for k, v in state["state"].items()},
            "has_uint32": int(state["has_uint32"]), "uinteger": int(state["uinteger"])}


def _set_generator_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    rng.bit_generator.state = {"bit_generator": state["bit_generator"],
                               "state": {k: int(v) for k, v in state["state"].items()},
                               "has_uint32": state["has_uint32"], "uinteger": state["uinteger"]}


def rng_state() -> dict[str, Any]:
    """The process-wide generators: Python's ``random``, numpy's global, torch's CPU and CUDA."""
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss": gauss},
        "numpy": _numpy_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Put back what ``rng_state`` returned."""
    python = state["python"]
    random.setstate((python["version"], tuple(int(v) for v in python["internal"].tolist()),
                     python["gauss"]))
    _set_numpy_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class ResumableLoader(DataLoader):
    """A training ``DataLoader`` whose random state is saved in Lightning checkpoints: its
    shuffling generator, the process-wide generators and its dataset's ``rng`` attribute
    (a numpy ``Generator``), when it has one."""

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"rng": rng_state()}
        if self.generator is not None:
            state["generator"] = self.generator.get_state()
        sampler_generator = getattr(self.sampler, "generator", None)
        if sampler_generator is not None and sampler_generator is not self.generator:
            state["sampler_generator"] = sampler_generator.get_state()
        dataset_rng = getattr(self.dataset, "rng", None)
        if isinstance(dataset_rng, np.random.Generator):
            state["dataset_rng"] = _generator_state(dataset_rng)
        return state

    def __iter__(self) -> Iterator[Any]:
        return _FirstBatchIterator(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_rng_state(state["rng"])
        if "generator" in state and self.generator is not None:
            self.generator.set_state(state["generator"])
        sampler_generator = getattr(self.sampler, "generator", None)
        if "sampler_generator" in state and sampler_generator is not None:
            sampler_generator.set_state(state["sampler_generator"])
        dataset_rng = getattr(self.dataset, "rng", None)
        if "dataset_rng" in state and isinstance(dataset_rng, np.random.Generator):
            _set_generator_state(dataset_rng, state["dataset_rng"])


class _FirstBatchIterator(Iterator[Any]):
    """Starts the loader's own iterator (which draws the worker seed and the epoch's order)
    only when the first batch is asked for."""

    def __init__(self, loader: ResumableLoader):
        self.loader = loader
        self.iterator: Iterator[Any] | None = None

    def __next__(self) -> Any:
        if self.iterator is None:
            self.iterator = DataLoader.__iter__(self.loader)
        return next(self.iterator)

    def __len__(self) -> int:
        return len(self.loader)


def _resumable_loaders(loaders: Any) -> list[ResumableLoader]:
    if isinstance(loaders, ResumableLoader):
        return [loaders]
    if isinstance(loaders, dict):
        loaders = list(loaders.values())
    if isinstance(loaders, list | tuple):
        return [found for item in loaders for found in _resumable_loaders(item)]
    return []


def _module_generators(pl_module: L.LightningModule) -> dict[str, np.random.Generator]:
    return {name: value for name, value in vars(pl_module).items()
            if isinstance(value, np.random.Generator)}


class RestoreRandomState(L.Callback):
    """On ``--resume``: puts the random state saved with the training loaders back before the
    resumed epoch's first batch (see the module docstring for why Lightning alone does not),
    and keeps the module's own numpy generators (a MixUp generator) in the checkpoint."""

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        checkpoint["emoscope_module_rngs"] = {
            name: _generator_state(rng) for name, rng in _module_generators(pl_module).items()}

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
        self.pending = list(fit_loop.get("state_dict", {}).get("combined_loader", []))
        saved = checkpoint.get("emoscope_module_rngs", {})
        for name, rng in _module_generators(pl_module).items():
            if name in saved:
                _set_generator_state(rng, saved[name])

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        states, self.pending = self.pending, []
        loaders = _resumable_loaders(trainer.train_dataloader)
        if not states:
            return
        if len(states) != len(loaders):
            log.warning("checkpoint holds the random state of %d training loaders, the run has "
                        "%d: the resumed epochs draw other batches", len(states), len(loaders))
            return
        for loader, state in zip(loaders, states, strict=True):
            loader.load_state_dict(state)
