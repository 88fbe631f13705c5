"""Linear heads on clip-level speech features, evaluated in numpy.

A recipe (``LinearRecipe``) names a feature set, whether features are standardised per
speaker (each speaker's own mean and standard deviation; in ``analyze``, those of the voiced
windows of one file), and the regularisation values a cross-validation chooses from. The head
(``LinearHead``) is a standardisation followed by a class-balanced multinomial logistic
regression; fitting uses scikit-learn, predicting needs numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from emoscope.errors import UserError

DEFAULT_CS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
TOL = 1e-3  # L-BFGS stopping tolerance: 2-4x fewer iterations than 1e-4, same predictions

# Windows the GE2E encoder runs at once; memory grows with it (256 windows: about 230 MB more).
ENCODER_GROUP = 32


@dataclass(frozen=True)
class LinearRecipe:
    """How a linear speech model is built from clip features."""

    features: str = "ge2e_l2"
    crop_seconds: float = 3.0  # the centred crop the GE2E features pool over (0: whole clip)
    speaker_norm: bool = False
    cs: tuple[float, ...] = field(default=DEFAULT_CS)


@dataclass
class LinearHead:
    """softmax(coef @ ((x - mean) / scale) + intercept)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (classes, D)
    intercept: np.ndarray  # (classes,)

    @property
    def num_classes(self) -> int:
        return int(self.coef.shape[0])

    def logits(self, features: np.ndarray) -> np.ndarray:
        standard = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        return standard @ self.coef.T + self.intercept

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        logits = self.logits(features)
        logits -= logits.max(1, keepdims=True)
        probs = np.exp(logits)
        return probs / probs.sum(1, keepdims=True)


def safe_scale(std: np.ndarray) -> np.ndarray:
    """Standard deviations with zeros (constant features) replaced by 1."""
    return np.where(std > 1e-12, std, 1.0)


def fit_linear_head(features: np.ndarray, labels: np.ndarray, c: float) -> LinearHead:
    """Standardise, then a class-balanced multinomial logistic regression with inverse
    regularisation ``c`` (scikit-learn, L-BFGS)."""
    return fit_linear_path(features, labels, [c])[0]


def fit_linear_path(features: np.ndarray, labels: np.ndarray,
                    cs: Sequence[float]) -> list[LinearHead]:
    """``fit_linear_head`` for each C of ``cs``, fitted in increasing order, each fit starting
    from the previous solution (the same optima, far fewer iterations)."""
    from sklearn.linear_model import LogisticRegression

    features = np.asarray(features, dtype=np.float64)
    mean, scale = features.mean(0), safe_scale(features.std(0))
    standard = (features - mean) / scale
    regression = LogisticRegression(class_weight="balanced", max_iter=5000, tol=TOL,
                                    warm_start=True)
    heads: dict[float, LinearHead] = {}
    for c in sorted(cs):
        regression.set_params(C=c)
        regression.fit(standard, labels)
        if len(regression.classes_) != int(labels.max()) + 1:
            raise ValueError(f"training labels hold {len(regression.classes_)} classes, "
                             f"expected {int(labels.max()) + 1}")
        heads[c] = LinearHead(mean, scale, regression.coef_.copy(),
                              regression.intercept_.copy())
    return [heads[c] for c in cs]


def standardise_rows(features: np.ndarray) -> np.ndarray:
    """Rows z-scored by the statistics of all rows (one speaker's clips or one file's
    windows); a single row becomes zeros."""
    features = np.asarray(features, dtype=np.float64)
    return (features - features.mean(0)) / safe_scale(features.std(0))


def speaker_standardise(features: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Each speaker's rows z-scored by that speaker's own mean and standard deviation."""
    out = np.empty_like(features, dtype=np.float64)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        out[rows] = standardise_rows(features[rows])
    return out


LINEAR_ARCHITECTURE = "speech_linear"
VOICED_DB = -50.0  # as the voice timeline's ``voiced`` column


class LinearSpeechModel:
    """GE2E pooled features (numpy) [+ eGeMAPS functionals of the waveform] -> ``LinearHead``.

    ``predict(spectrograms, waves)``: softmax scores (N, classes) of equally long log-mel
    spectrograms and, when the model reads eGeMAPS, the waveforms they came from.
    """

    def __init__(self, encoder, pool_layers: Sequence[int], use_egemaps: bool,
                 head: LinearHead, sample_rate: int = 16000, speaker_norm: bool = False):
        self.encoder, self.pool_layers = encoder, tuple(pool_layers)
        self.use_egemaps, self.head, self.sample_rate = use_egemaps, head, sample_rate
        # features z-scored over the inputs of one call (one speaker's clips, or the voiced
        # windows of one file) before the head's own standardisation
        self.speaker_norm = speaker_norm

    @property
    def needs_waves(self) -> bool:
        return self.use_egemaps

    def features(self, spectrograms: Sequence[np.ndarray],
                 waves: Sequence[np.ndarray] | None = None,
                 starts: Sequence[int] | None = None) -> np.ndarray:
        if len({s.shape[-1] for s in spectrograms}) == 1:
            # in groups: the numpy LSTM keeps every step's activations of the whole group
            parts = [np.concatenate([
                self.encoder.pooled(np.stack(spectrograms[i:i + ENCODER_GROUP]), self.pool_layers)
                for i in range(0, len(spectrograms), ENCODER_GROUP)])]
        else:  # whole clips of different lengths: one at a time (pooling ignores no padding)
            parts = [np.concatenate([self.encoder.pooled(s[None], self.pool_layers)
                                     for s in spectrograms])]
        if self.use_egemaps:
            from emoscope.models.speech_features import egemaps_vector

            if waves is None or len(waves) != len(spectrograms):
                raise UserError("this speech model reads eGeMAPS functionals of the waveform; "
                                "it was given spectrograms only")
            windows = None if starts is None else self._windows_egemaps(waves, starts)
            parts.append(windows if windows is not None else
                         np.stack([egemaps_vector(w, self.sample_rate) for w in waves]))
        return np.concatenate(parts, axis=1)

    def _windows_egemaps(self, waves: Sequence[np.ndarray],
                         starts: Sequence[int]) -> np.ndarray | None:
        """eGeMAPS of overlapping windows of one signal (sample offsets ``starts``) in one
        openSMILE run; None to fall back to one run per window."""
        from emoscope.models.speech_features import egemaps_of_windows

        if len(waves) < 2 or len(starts) != len(waves):
            return None
        origin = int(min(starts))
        spans = [(int(a) - origin, int(a) - origin + len(w)) for a, w in zip(starts, waves,
                                                                                strict=True)]
        signal = np.zeros(max(b for _, b in spans), dtype=np.float32)
        for (a, b), wave in zip(spans, waves, strict=True):
            signal[a:b] = wave
        return egemaps_of_windows(signal, self.sample_rate, spans)

    def predict(self, spectrograms: Sequence[np.ndarray],
                waves: Sequence[np.ndarray] | None = None,
                voiced: np.ndarray | None = None,
                starts: Sequence[int] | None = None) -> np.ndarray:
        """Softmax scores; a speaker-normalised model z-scores the features over the inputs
        marked ``voiced`` (default: those at -50 dBFS or louder, as the voice timeline's
        ``voiced`` column). ``starts``: the windows' sample offsets in one signal, when they
        come from one (eGeMAPS is then computed in one openSMILE run)."""
        if not len(spectrograms):
            return np.zeros((0, self.head.num_classes), dtype=np.float32)
        features = self.features(spectrograms, waves, starts)
        if self.speaker_norm:
            features = self.normalised_over_voiced(features, waves, voiced)
        standard = (features - self.head.mean) / self.head.scale
        # a silent or degenerate window can give NaN functionals: read as the training mean
        standard = np.nan_to_num(standard, nan=0.0, posinf=0.0, neginf=0.0)
        logits = standard @ self.head.coef.T + self.head.intercept
        logits -= logits.max(1, keepdims=True)
        probs = np.exp(logits)
        return (probs / probs.sum(1, keepdims=True)).astype(np.float32)

    def normalised_over_voiced(self, features: np.ndarray,
                               waves: Sequence[np.ndarray] | None,
                               voiced: np.ndarray | None = None) -> np.ndarray:
        """Rows z-scored by the statistics of the voiced rows (given, or RMS >= -50 dBFS;
        all rows when no waveform is given or none is voiced)."""
        if voiced is not None:
            voiced = np.asarray(voiced, dtype=bool).copy()
        elif waves is None:
            voiced = np.ones(len(features), dtype=bool)
        else:
            levels = [np.sqrt(np.mean(np.square(w, dtype=np.float64))) if len(w) else 0.0
                      for w in waves]
            voiced = 20 * np.log10(np.maximum(levels, 1e-10)) >= VOICED_DB
        if not voiced.any():
            voiced[:] = True
        mean = features[voiced].mean(0)
        return (features - mean) / safe_scale(features[voiced].std(0))

    def state(self) -> dict[str, np.ndarray]:
        """The tensors of the model file (encoder float32, head float64 -> float32)."""
        out = dict(self.encoder.weights)
        out.update({"head.mean": self.head.mean, "head.scale": self.head.scale,
                    "head.coef": self.head.coef, "head.intercept": self.head.intercept})
        return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def load_linear_speech_model(weights_path, card) -> LinearSpeechModel:
    """A ``speech_linear`` model file (safetensors read by numpy; no torch)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from emoscope.data.audio import AudioFrontEnd
    from emoscope.models.speech_numpy import NumpyGE2E

    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"{weights_path}: not a readable safetensors file ({err})") from None
    missing = [k for k in ("head.mean", "head.scale", "head.coef", "head.intercept")
               if k not in state]
    if missing:
        raise UserError(f"{weights_path}: not a {LINEAR_ARCHITECTURE} model (no {missing[0]})")
    kwargs = card.architecture_kwargs
    front = AudioFrontEnd.from_dict(card.extra.get("audio", {}))
    pool = tuple(int(k) for k in kwargs.get("pool_layers", [2]))
    encoder = NumpyGE2E(state, front, layers=max(pool))
    head = LinearHead(*(state[f"head.{k}"].astype(np.float64)
                        for k in ("mean", "scale", "coef", "intercept")))
    return LinearSpeechModel(encoder, pool, bool(kwargs.get("egemaps", False)), head,
                             front.sample_rate, bool(kwargs.get("speaker_norm", False)))
