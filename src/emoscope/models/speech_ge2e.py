"""``speech_ge2e``: a speaker-verification LSTM, pretrained on many speakers, tuned for emotion.

The Resemblyzer package (PyPI, Apache-2.0) ships ``pretrained.pt``: a GE2E speaker encoder,
a 3-layer LSTM (256 units) over 40-band mel power (16 kHz, 25 ms windows, 10 ms hop,
librosa's Slaney filters from 0 Hz, waveform scaled to -30 dBFS), trained with the generalised
end-to-end loss to tell speakers apart. Speaker identity and speaking style share the same
acoustic cues, and the second layer's outputs, mean- and std-pooled over time, separate
RAVDESS emotions of unseen speakers about as well as a fine-tuned ImageNet CNN on log-mel
(leave-actors-out logistic regression on actors 01-16: 66% accuracy, docs/research/speech.md).

This model keeps the toolkit's one audio front end: it takes the usual (N, n_mels, T) log-mel,
maps the mel power onto the encoder's 40 bands with a fixed least-squares matrix between the
two filterbanks (frozen encoder features from it score within 0.2 points of the exact 40-band
input), rescales each clip's power to the level of a -30 dBFS waveform, runs the first
``layers`` LSTM layers, pools mean and standard deviation over time, standardises the pooled
features (batch norm) and classifies linearly.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emoscope.data.audio import LOG_FLOOR, AudioFrontEnd, mel_filterbank
from emoscope.errors import UserError
from emoscope.models.backbones import PretrainedMode
from emoscope.models.speech import SpecAugment
from emoscope.registry import MODELS

ENCODER_FRONT_END = AudioFrontEnd(n_mels=40, fmin=0.0, fmax=8000.0)
ENCODER_UNITS = 256
# Mean mel energy per frame (sum over the 40 bands) of speech scaled to -30 dBFS, measured on
# RAVDESS clips with ENCODER_FRONT_END (0.34-0.39); the level the encoder was trained at.
REFERENCE_FRAME_ENERGY = 0.38
RESEMBLYZER_PIN = "Resemblyzer==0.1.4"


def resemblyzer_weights_file() -> Path | None:
    """The ``pretrained.pt`` inside an installed Resemblyzer package, found without importing
    it (its import needs webrtcvad, which the toolkit does not install)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    return path if path.is_file() else None


def load_encoder_weights(lstm: nn.LSTM, path: Path) -> None:
    """Copy the first ``lstm.num_layers`` layers of a Resemblyzer checkpoint into ``lstm``."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        state = checkpoint["model_state"]
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        raise UserError(f"{path}: not a Resemblyzer checkpoint ({err})") from err
    wanted = {name for name, _ in lstm.named_parameters()}
    own = {name: state.get(f"lstm.{name}") for name in wanted}
    missing = sorted(name for name, value in own.items() if value is None)
    if missing:
        raise UserError(f"{path}: Resemblyzer checkpoint lacks {missing[:3]}")
    lstm.load_state_dict(own, strict=True)


def band_mapping(front_end: AudioFrontEnd) -> np.ndarray:
    """(40, n_mels) least-squares map from ``front_end``'s mel power to the encoder's bands."""
    source, target = mel_filterbank(front_end), mel_filterbank(ENCODER_FRONT_END)
    if source.shape[1] != target.shape[1]:
        raise UserError(f"speech_ge2e needs a 400-point FFT at 16 kHz (the encoder's); the "
                        f"audio front end has n_fft {front_end.n_fft}")
    mapping, *_ = np.linalg.lstsq(source.T, target.T, rcond=None)
    return mapping.T.astype(np.float32)


@MODELS.register("speech_ge2e")
class SpeechGE2E(nn.Module):
    """GE2E LSTM layers (``backbone``), mean + std pooling, batch norm, dropout, linear head."""

    def __init__(self, num_classes: int, pretrained: PretrainedMode = "none",
                 dropout: float = 0.3, spec_augment: bool = True, n_mels: int = 64,
                 layers: int = 2, freq_width: int = 5, time_width: int = 30,
                 front_end: dict[str, Any] | None = None,
                 pool_layers: Sequence[int] | None = None, **_: object):
        super().__init__()
        if not 1 <= int(layers) <= 3:
            raise UserError(f"speech_ge2e: layers must be 1, 2 or 3 (the encoder has 3), "
                            f"got {layers}")
        # the layers whose outputs are pooled (1-based; default: the last one run)
        self.pool_layers = tuple(int(k) for k in (pool_layers or (int(layers),)))
        if not all(1 <= k <= int(layers) for k in self.pool_layers):
            raise UserError(f"speech_ge2e: pool_layers {list(self.pool_layers)} must be within "
                            f"the {layers} layers run")
        front = AudioFrontEnd.from_dict(front_end or {"n_mels": n_mels})
        if front.n_mels != n_mels or front.sample_rate != ENCODER_FRONT_END.sample_rate:
            raise UserError(f"speech_ge2e: front end {front.to_dict()} does not match n_mels "
                            f"{n_mels} at 16 kHz")
        self.register_buffer("bands", torch.from_numpy(band_mapping(front)))
        self.augment = SpecAugment(freq_width=freq_width if spec_augment else 0,
                                   time_width=time_width if spec_augment else 0)
        self.backbone = nn.LSTM(ENCODER_FRONT_END.n_mels, ENCODER_UNITS, int(layers),
                                batch_first=True)
        if pretrained != "none":
            path = resemblyzer_weights_file()
            if path is None:
                raise UserError("speech_ge2e: pretrained weights come from the Resemblyzer "
                                f"package; install it with `pip install --no-deps "
                                f"{RESEMBLYZER_PIN}` (or use pretrained: none)")
            load_encoder_weights(self.backbone, path)
        # the pooled features vary little between clips (std about 0.03): standardise them, as
        # a linear probe does, or a linear head at the usual learning rate barely moves
        width = 2 * ENCODER_UNITS * len(self.pool_layers)
        self.head = nn.Sequential(nn.BatchNorm1d(width), nn.Dropout(dropout),
                                  nn.Linear(width, num_classes))

    def encoder_input(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """(N, T, 40) mel power at the encoder's level, SpecAugment-masked while training."""
        if spectrogram.dim() == 4:
            spectrogram = spectrogram[:, 0]
        power = (spectrogram.float().exp() - LOG_FLOOR).clamp_min(0.0)
        power = torch.einsum("bf,nft->nbt", self.bands, power).clamp_min(0.0)
        energy = power.sum(1).mean(1).clamp_min(1e-10)  # (N,)
        power = power * (REFERENCE_FRAME_ENERGY / energy)[:, None, None]
        power = self.augment(power[:, None])[:, 0]
        return power.transpose(1, 2)

    def features(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """Mean and std over time of each pooled layer's outputs, in layer order."""
        if self.pool_layers == (self.backbone.num_layers,):
            hidden, _ = self.backbone(self.encoder_input(spectrogram))
            return _mean_std(hidden)
        return torch.cat([_mean_std(h) for h in self._layer_outputs(spectrogram)], dim=1)

    def _layer_outputs(self, spectrogram: torch.Tensor) -> list[torch.Tensor]:
        """The outputs of the pooled layers, one LSTM layer at a time (same weights)."""
        x, outputs = self.encoder_input(spectrogram), []
        for k in range(self.backbone.num_layers):
            weights = [getattr(self.backbone, f"{n}_l{k}") for n in
                       ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            x = _lstm_layer(x, *weights)
            if k + 1 in self.pool_layers:
                outputs.append(x)
        return outputs

    def forward(self, spectrogram: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.head(self.features(spectrogram))}


def _mean_std(hidden: torch.Tensor) -> torch.Tensor:
    std = (hidden.var(1, unbiased=False) + 1e-6).sqrt()
    return torch.cat([hidden.mean(1), std], dim=1)


def _lstm_layer(x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                b_hh: torch.Tensor) -> torch.Tensor:
    """One layer of ``nn.LSTM`` (batch first, zero initial state) from its weights."""
    hidden, *_ = torch.lstm(x, (x.new_zeros(1, x.shape[0], w_hh.shape[1]),
                               x.new_zeros(1, x.shape[0], w_hh.shape[1])),
                           (w_ih, w_hh, b_ih, b_hh), True, 1, 0.0, False, False, True)
    return hidden
