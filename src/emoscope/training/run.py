"""What every task's ``train_<task>`` is built from: a run folder started once (``start_run``,
``open_run``), the Lightning trainer with checkpoints, early stopping, EMA and wall-time limit
(``build_trainer``), ``fit_resumable`` (exact resume), and ``export_best`` (the best epoch
exported with its scores)."""

from __future__ import annotations

import json
import logging
import shlex
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, EMAWeightAveraging, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_only
from torch import nn

from emoscope.config import save_config
from emoscope.errors import UserError
from emoscope.models.files.checkpoint import ModelCard, check_resumable, save_model
from emoscope.training.config import LossConfig
from emoscope.training.data_module import inverse_frequency
from emoscope.training.history import merge_metrics, preserve_metrics, read_history
from emoscope.training.resume import RestoreRandomState
from emoscope.utils.files import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_dir: Path
    model_path: Path
    metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    network: nn.Module | None = None


def loss_kwargs(loss: LossConfig, labels: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Arguments of the single-label loss ``loss.name`` (smoothing, focal gamma, inverse
    class-frequency weights of ``labels``)."""
    kwargs: dict[str, Any] = {"label_smoothing": loss.label_smoothing}
    if loss.name == "focal":
        kwargs["gamma"] = loss.focal_gamma
    if loss.class_weights:
        kwargs["class_weights"] = inverse_frequency(labels, num_classes)
    return kwargs


def build_trainer(t: Any, run_dir: Path, monitor: str, steps_per_epoch: int,
                  sanity_val_steps: int | None = 0,
                  extra_callbacks: Sequence[L.Callback] = ()) -> tuple[L.Trainer, ModelCheckpoint]:
    """The Lightning trainer of every task: best/last checkpoints on ``monitor`` (max), early
    stopping, an EMA of the weights (``t.ema_decay``, checked by ``start_run``), wall-time
    limit, CSV metrics in the run folder, and the device, strategy and node settings of the
    task's trainer config ``t`` (DDP included); ``extra_callbacks`` run beside them."""
    checkpoint = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best",
                                 monitor=monitor, mode="max")
    # Lightning's save_last rewrites last.ckpt only when a new best is saved, so a killed run
    # would resume from its best epoch, not its latest: an unmonitored callback writes
    # last.ckpt after every epoch instead
    latest = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="last", monitor=None,
                             save_top_k=1, enable_version_counter=False)
    callbacks: list[L.Callback] = [checkpoint, latest, RestoreRandomState(), *extra_callbacks]
    if t.ema_decay > 0:
        # checkpoints then hold the average as state_dict (the raw weights beside it, for
        # --resume), so best.ckpt and the exported model are the averaged weights
        callbacks.append(EMAWeightAveraging(decay=t.ema_decay))
    if getattr(t, "early_stopping_patience", 0) > 0:
        callbacks.append(EarlyStopping(monitor, mode="max", patience=t.early_stopping_patience))
    precision = t.precision
    if precision == "auto":
        precision = "bf16-mixed" if torch.cuda.is_available() else "32-true"
    trainer = L.Trainer(
        max_epochs=t.max_epochs,
        max_time={"minutes": t.max_minutes} if t.max_minutes > 0 else None,
        accelerator=t.accelerator, devices=t.devices,
        strategy=getattr(t, "strategy", "auto"), num_nodes=getattr(t, "num_nodes", 1),
        precision=precision, callbacks=callbacks,
        logger=CSVLogger(str(run_dir), name="", version=""),
        enable_progress_bar=sys.stderr.isatty(), enable_model_summary=False,
        default_root_dir=str(run_dir), log_every_n_steps=max(1, min(10, steps_per_epoch)),
        num_sanity_val_steps=sanity_val_steps,
    )
    return trainer, checkpoint


def start_run(cfg, resume: bool) -> tuple[Path, Path]:
    """Seed, threads and the run folder's name; returns (run_dir, last.ckpt). Nothing is
    written: ``open_run`` makes the folder once data and networks are built, so a start that
    fails leaves nothing behind.

    An existing run is only continued with ``resume``, never overwritten.
    """
    if not 0.0 <= cfg.trainer.ema_decay < 1.0:  # checked before anything is written
        raise UserError(f"trainer.ema_decay must be in [0, 1), got {cfg.trainer.ema_decay}")
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    if cfg.trainer.num_threads > 0:
        torch.set_num_threads(cfg.trainer.num_threads)
    run_dir = Path(cfg.out_dir) / cfg.name
    last_ckpt = run_dir / "checkpoints" / "last.ckpt"
    if run_dir.exists() and not resume and last_ckpt.exists():
        raise UserError(f"{run_dir}: a run already exists there; pass --resume to continue it "
                        "or choose another name/out_dir")
    return run_dir, last_ckpt


def open_run(cfg, run_dir: Path) -> None:
    """The run folder with its config.yaml, written once the run's data and networks were
    built (a failed start leaves no folder holding only a config)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if rank_zero_only.rank == 0:  # every DDP process runs this; one writes
        save_config(cfg, run_dir / "config.yaml")


def fit_resumable(trainer: L.Trainer, run_dir: Path, last_ckpt: Path, resume: bool,
                  **fit_inputs: Any) -> None:
    """``trainer.fit``, continuing from ``last_ckpt`` when resuming (loaded weights-only);
    metrics.csv keeps the epochs before the interruption."""
    ckpt_path = str(last_ckpt) if resume and last_ckpt.exists() else None
    if resume and ckpt_path is None:
        log.info("no checkpoint to resume in %s; starting fresh", run_dir)
    if ckpt_path is not None:
        check_resumable(ckpt_path, fit_inputs.get("model"))  # one line, not a traceback
    if ckpt_path is not None and trainer.is_global_zero:
        preserve_metrics(run_dir)  # Lightning's CSV logger would delete the earlier epochs
    with warnings.catch_warnings():
        # expected here: config.yaml is already in the run folder, and a resumed run reuses
        # its checkpoint folder (earlier metrics were moved aside above)
        warnings.filterwarnings("ignore", "Experiment logs directory .* exists and is not empty")
        warnings.filterwarnings("ignore", "Checkpoint directory .* exists and is not empty")
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        trainer.fit(ckpt_path=ckpt_path, weights_only=True, **fit_inputs)
    if trainer.is_global_zero:
        merge_metrics(run_dir)


def default_command() -> str:
    program = Path(sys.argv[0]).name
    if program in ("run_cli.py", "__main__.py"):
        return shlex.join(["python", "-m", "emoscope.training.run_cli", *sys.argv[1:]])
    return shlex.join([program, *sys.argv[1:]])


def load_best_weights(module: L.LightningModule, checkpoint: ModelCheckpoint,
                      skip_prefix: str | None = None) -> None:
    """Put the best checkpoint's weights (loaded weights-only) back into ``module``."""
    if not checkpoint.best_model_path:
        return
    state = torch.load(checkpoint.best_model_path, map_location="cpu",
                       weights_only=True)["state_dict"]
    if skip_prefix is None:
        module.load_state_dict(state)
    else:
        module.load_state_dict({k: v for k, v in state.items()
                                if not k.startswith(skip_prefix)}, strict=False)


def best_epoch_scores(run_dir: Path, monitor: str) -> tuple[dict[str, Any], list[dict]]:
    """The validation scores of the epoch with the highest ``monitor`` (rounded, NaN left
    out, plus ``best_epoch``), and the run's whole history."""
    history = read_history(run_dir)
    best_row = max((r for r in history if monitor in r), key=lambda r: r[monitor], default={})
    scores: dict[str, Any] = {k: round(float(v), 4) for k, v in best_row.items()
                              if k.startswith("val/") and v == v}
    scores["best_epoch"] = int(best_row.get("epoch", -1)) if best_row else -1
    return scores, history


def export_best(run_dir: Path, trainer: L.Trainer, module: L.LightningModule,
                checkpoint: ModelCheckpoint, card: ModelCard, monitor: str,
                skip_prefix: str = "") -> TrainResult:
    """The end of a task's run on rank 0: the best epoch's weights back into
    ``module.network``, its scores into the card, the network exported as ``model`` beside
    final_metrics.json (best and last scores) and history.png. The task then writes its
    validation report with ``result.network``."""
    load_best_weights(module, checkpoint, skip_prefix=skip_prefix)
    last = {k: float(v) for k, v in trainer.callback_metrics.items()}
    scores, history = best_epoch_scores(run_dir, monitor)
    card.scores = scores
    network = module.network.cpu().to(memory_format=torch.contiguous_format).eval()
    model_path = save_model(network, card, run_dir / "model")
    atomic_write_text(run_dir / "final_metrics.json",
                      json.dumps({"best": scores, "last": last}, indent=2))
    plot_run_history(history, run_dir / "history.png")
    return TrainResult(run_dir, model_path, scores, history, network)


def plot_run_history(history: list[dict[str, Any]], path: Path) -> None:
    from emoscope.evaluation.plots import plot_history

    if history:
        plot_history(history, path)

