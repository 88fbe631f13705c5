"""The GE2E speaker encoder's LSTM layers evaluated in numpy (no torch at inference).

The same computation as ``speech_ge2e``'s encoder (``models/speech_ge2e.py``): 64-band log-mel
-> mel power mapped onto the encoder's 40 bands -> power rescaled to the level of a -30 dBFS
waveform -> the first LSTM layers -> mean and standard deviation over time of each layer's
outputs. Weights use PyTorch's names and gate order (input, forget, cell, output), so they
load from a ``speech_ge2e`` model file or from Resemblyzer's ``pretrained.pt`` alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from emoscope.data.audio import LOG_FLOOR, AudioFrontEnd, mel_filterbank
from emoscope.errors import UserError

ENCODER_BANDS = 40
ENCODER_UNITS = 256
ENCODER_FRONT_END = AudioFrontEnd(n_mels=ENCODER_BANDS, fmin=0.0, fmax=8000.0)
# Mean mel energy per frame (sum over the 40 bands) of speech scaled to -30 dBFS (see
# models/speech_ge2e.py, where it was measured).
REFERENCE_FRAME_ENERGY = 0.38


def band_mapping(front_end: AudioFrontEnd) -> np.ndarray:
    """(40, n_mels) least-squares map from ``front_end``'s mel power to the encoder's bands."""
    source, target = mel_filterbank(front_end), mel_filterbank(ENCODER_FRONT_END)
    if source.shape[1] != target.shape[1]:
        raise UserError(f"the GE2E encoder needs a 400-point FFT at 16 kHz; the audio front "
                        f"end has n_fft {front_end.n_fft}")
    mapping, *_ = np.linalg.lstsq(source.T, target.T, rcond=None)
    return mapping.T.astype(np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # overflow-free logistic


class NumpyGE2E:
    """The first ``layers`` LSTM layers of the GE2E encoder on (N, n_mels, T) log-mel."""

    def __init__(self, weights: Mapping[str, np.ndarray], front_end: AudioFrontEnd,
                 layers: int = 2, prefix: str = "backbone."):
        self.layers = int(layers)
        self.bands = band_mapping(front_end)
        self.params = []
        self.weights: dict[str, np.ndarray] = {}  # as given, for writing the model back
        for k in range(self.layers):
            names = [f"{prefix}{n}_l{k}" for n in ("weight_ih", "weight_hh", "bias_ih",
                                                   "bias_hh")]
            missing = [n for n in names if n not in weights]
            if missing:
                raise UserError(f"GE2E weights lack {', '.join(missing)}")
            w_ih, w_hh, b_ih, b_hh = (np.asarray(weights[n], dtype=np.float32) for n in names)
            self.weights.update({f"backbone.{n[len(prefix):]}": weights[n] for n in names})
            self.params.append((np.ascontiguousarray(w_ih.T), np.ascontiguousarray(w_hh.T),
                                b_ih + b_hh))

    def encoder_input(self, log_mel: np.ndarray) -> np.ndarray:
        """(N, T, 40) mel power at the encoder's level."""
        power = np.clip(np.exp(log_mel.astype(np.float32)) - LOG_FLOOR, 0.0, None)
        power = np.clip(np.einsum("bf,nft->nbt", self.bands, power), 0.0, None)
        energy = np.clip(power.sum(1).mean(1), 1e-10, None)
        power = power * (REFERENCE_FRAME_ENERGY / energy)[:, None, None]
        return power.transpose(0, 2, 1).astype(np.float32)

    def layer_outputs(self, log_mel: np.ndarray) -> list[np.ndarray]:
        """Each layer's hidden states, (N, T, 256) per layer."""
        x = self.encoder_input(log_mel)
        outputs = []
        for w_ih, w_hh, bias in self.params:
            x = _lstm(x, w_ih, w_hh, bias)
            outputs.append(x)
        return outputs

    def pooled(self, log_mel: np.ndarray, layers: Sequence[int] | None = None) -> np.ndarray:
        """(N, 512 x len(layers)) mean and std over time of the chosen layers (1-based;
        default: the last)."""
        outputs = self.layer_outputs(log_mel)
        chosen = layers or [self.layers]
        parts = []
        for k in chosen:
            hidden = outputs[k - 1]
            parts += [hidden.mean(1), np.sqrt(hidden.var(1) + 1e-6)]
        return np.concatenate(parts, axis=1)


def _lstm(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """One LSTM layer over (N, T, D) with zero initial state -> (N, T, H)."""
    n, steps, _ = x.shape
    units = w_hh.shape[0]
    projected = x @ w_ih + bias  # (N, T, 4H), the input part of every step at once
    h = np.zeros((n, units), dtype=np.float32)
    c = np.zeros((n, units), dtype=np.float32)
    out = np.empty((n, steps, units), dtype=np.float32)
    for t in range(steps):
        gates = projected[:, t] + h @ w_hh
        i, f = _sigmoid(gates[:, :units]), _sigmoid(gates[:, units:2 * units])
        g, o = np.tanh(gates[:, 2 * units:3 * units]), _sigmoid(gates[:, 3 * units:])
        c = f * c + i * g
        h = o * np.tanh(c)
        out[:, t] = h
    return out


def resemblyzer_numpy_weights(layers: int = 3) -> dict[str, np.ndarray]:
    """The encoder's LSTM weights from an installed Resemblyzer package (needs torch to read
    the ``.pt``; used to build models, not to run them), named ``backbone.*``."""
    import torch

    from emoscope.models.speech_ge2e import RESEMBLYZER_PIN, resemblyzer_weights_file

    path = resemblyzer_weights_file()
    if path is None:
        raise UserError(f"the GE2E weights come from the Resemblyzer package; install it with "
                        f"`pip install --no-deps {RESEMBLYZER_PIN}`")
    state = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
    out = {}
    for k in range(layers):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            out[f"backbone.{name}_l{k}"] = state[f"lstm.{name}_l{k}"].numpy().astype(np.float32)
    return out
