"""Calibration: expected calibration error and a fitted softmax temperature."""

from __future__ import annotations

import numpy as np

ECE_BINS = 15


def expected_calibration_error(probabilities: np.ndarray, targets: np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """ECE of top-1 confidence (Guo et al. 2017): the sample-weighted mean, over ``bins``
    equal-width confidence bins in (0, 1], of |accuracy - mean confidence| in the bin."""
    probs = np.asarray(probabilities, dtype=np.float64)
    truth = np.asarray(targets, dtype=np.int64)
    if probs.ndim != 2 or len(probs) != len(truth):
        raise ValueError(f"probabilities {probs.shape} and targets {truth.shape} do not match")
    if len(truth) == 0:
        raise ValueError("no samples to score")
    confidence = probs.max(1)
    correct = (probs.argmax(1) == truth).astype(np.float64)
    # Bin k holds confidences in (k/bins, (k+1)/bins]; a confidence of exactly 0 joins bin 0.
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    total = 0.0
    for k in range(bins):
        inside = which == k
        if inside.any():
            total += inside.sum() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total / len(truth))


def softmax_with_temperature(log_probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(z / T) for logits or log-probabilities ``z`` (the two give the same result)."""
    scaled = np.asarray(log_probabilities, dtype=np.float64) / float(temperature)
    scaled -= scaled.max(1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(1, keepdims=True)


def negative_log_likelihood(log_probabilities: np.ndarray, targets: np.ndarray,
                            temperature: float) -> float:
    probs = softmax_with_temperature(log_probabilities, temperature)
    picked = probs[np.arange(len(targets)), np.asarray(targets, dtype=np.int64)]
    return float(-np.log(np.clip(picked, 1e-12, None)).mean())


def fit_temperature(log_probabilities: np.ndarray, targets: np.ndarray,
                    low: float = 0.05, high: float = 20.0) -> float:
    """The temperature in [low, high] that minimises the negative log-likelihood of
    ``targets`` (golden-section search on log T; the NLL is convex in 1/T)."""
    a, b = np.log(low), np.log(high)
    ratio = (np.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)

    def nll(log_t: float) -> float:
        return negative_log_likelihood(log_probabilities, targets, float(np.exp(log_t)))

    fc, fd = nll(c), nll(d)
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(d)
    return float(np.exp((a + b) / 2))


def rescale_probabilities(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax probabilities of logits z turned into those of z / T."""
    if temperature == 1.0:
        return np.asarray(probabilities, dtype=np.float64)
    return softmax_with_temperature(np.log(np.clip(probabilities, 1e-12, None)), temperature)


def dataset_ece(probabilities: np.ndarray, columns: np.ndarray, targets: np.ndarray,
                temperature: float = 1.0, bins: int = ECE_BINS) -> float:
    """ECE over a dataset's classes: the model's columns for them, renormalised (a model may
    know more classes than the dataset), after the temperature."""
    shares = rescale_probabilities(probabilities, temperature)[:, columns]
    return expected_calibration_error(shares / shares.sum(1, keepdims=True), targets, bins)
