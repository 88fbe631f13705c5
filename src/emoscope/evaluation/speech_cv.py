"""Actor-disjoint cross-validation of speech emotion recipes on RAVDESS.

The protocol (fixed): the 20 actors 01-20 in 5 folds of 4 contiguous actor IDs, 01-04,
05-08, 09-12, 13-16 and 17-20, so every fold holds 2 male (odd) and 2 female (even) actors.
Each fold is scored by a model trained on the other 16 actors; no clip of a held-out actor is
seen in training, and anything the recipe chooses (the regularisation ``C``) is chosen by an
inner cross-validation over the 16 training actors (4 folds of 4, also contiguous and
gender-balanced). Reported: mean and standard deviation over the folds of accuracy and UAR
(8 classes), and the same for 7 classes (calm merged into neutral: the 8-class
probabilities of calm and neutral summed), as the model cards define the 7-class score.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from emoscope.data.ravdess import speaker_folds
from emoscope.errors import UserError
from emoscope.models.speech_linear import (
    LinearRecipe,
    fit_linear_head,
    fit_linear_path,
    speaker_standardise,
)

log = logging.getLogger(__name__)

CV_FOLDS = 5
INNER_FOLDS = 4
CALM, NEUTRAL = 1, 0  # RAVDESS label indices


def cv_actor_folds(actors: Sequence[int], num_folds: int = CV_FOLDS) -> list[list[int]]:
    """Contiguous groups of the sorted actor IDs, each with as many odd (male) as even
    (female) actors; a UserError when the actors cannot be split that way."""
    folds = speaker_folds(actors, num_folds)
    for fold in folds:
        males = sum(a % 2 for a in fold)
        if 2 * males != len(fold):
            raise UserError(f"actor fold {fold} is not gender-balanced (odd IDs are male, even "
                            f"female); RAVDESS CV needs an even number of consecutive actors "
                            f"per fold, such as actors 01-20 in 5 folds")
    return folds


def uar(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> float:
    """Unweighted average recall over the classes present in ``labels``."""
    recalls = [float(np.mean(predicted[labels == k] == k)) for k in range(num_classes)
               if np.any(labels == k)]
    return float(np.mean(recalls))


def seven_class(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-class labels and probabilities with calm merged into neutral (7 columns, the order
    of the 8 minus calm)."""
    merged = np.delete(probs, CALM, axis=1)
    merged[:, NEUTRAL] += probs[:, CALM]
    labels7 = np.where(labels == CALM, NEUTRAL, labels)
    return np.where(labels7 > CALM, labels7 - 1, labels7), merged


def fold_scores(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Accuracy and UAR, 8 and 7 classes, of one held-out fold."""
    predicted = probs.argmax(1)
    labels7, probs7 = seven_class(labels, probs)
    predicted7 = probs7.argmax(1)
    return {"accuracy": float(np.mean(predicted == labels)),
            "uar": uar(labels, predicted, probs.shape[1]),
            "accuracy_7class": float(np.mean(predicted7 == labels7)),
            "uar_7class": uar(labels7, predicted7, probs7.shape[1])}


@dataclass
class CVResult:
    """Per-fold scores and their mean and standard deviation (population, over folds)."""

    recipe: dict[str, Any]
    folds: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        keys = ("accuracy", "uar", "accuracy_7class", "uar_7class")
        out = {}
        for key in keys:
            values = np.array([f[key] for f in self.folds])
            out[f"{key}_mean"], out[f"{key}_std"] = float(values.mean()), float(values.std())
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": "RAVDESS actor-disjoint 5-fold CV (folds of contiguous actor IDs, "
                            "2 male + 2 female each); C by 4-fold inner CV on the training "
                            "actors", "recipe": self.recipe, "folds": self.folds,
                **self.summary()}


def inner_choose_c(features: np.ndarray, labels: np.ndarray, speakers: np.ndarray,
                   recipe: LinearRecipe, folds: int = INNER_FOLDS
                   ) -> tuple[float, dict[str, float]]:
    """The C (of ``recipe.cs``) with the best mean UAR over ``folds`` actor folds of these
    speakers; the smaller C on a tie."""
    groups = cv_actor_folds(speakers, folds)
    fold_uars: dict[float, list[float]] = {c: [] for c in recipe.cs}
    for held in groups:
        test = np.isin(speakers, held)
        heads = fit_linear_path(features[~test], labels[~test], recipe.cs)
        for c, head in zip(recipe.cs, heads, strict=True):
            predicted = head.predict_proba(features[test]).argmax(1)
            fold_uars[c].append(uar(labels[test], predicted, head.num_classes))
    scores = {str(c): float(np.mean(v)) for c, v in fold_uars.items()}
    best = max(scores.values())
    return min(float(c) for c, s in scores.items() if s == best), scores


def cross_validate_features(features: np.ndarray, labels: np.ndarray, speakers: np.ndarray,
                            recipe: LinearRecipe) -> CVResult:
    """Outer 5-fold actor CV of a linear-head recipe on precomputed clip features (BLAS on
    one thread: the small fits run 20x slower when threads contend for a busy CPU)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _cross_validate(features, labels, speakers, recipe)


def _cross_validate(features: np.ndarray, labels: np.ndarray, speakers: np.ndarray,
                    recipe: LinearRecipe) -> CVResult:
    speakers = np.asarray(speakers).astype(np.int64)
    if recipe.speaker_norm:
        features = speaker_standardise(features, speakers)
    result = CVResult(asdict(recipe))
    for held in cv_actor_folds(speakers):
        test = np.isin(speakers, held)
        c, inner = inner_choose_c(features[~test], labels[~test], speakers[~test], recipe)
        head = fit_linear_head(features[~test], labels[~test], c)
        scores = fold_scores(labels[test], head.predict_proba(features[test]))
        result.folds.append({"actors": held, "C": c, "inner_uar": inner, **scores})
        log.info("actors %s: C %g, accuracy %.4f, UAR %.4f", held, c, scores["accuracy"],
                 scores["uar"])
    return result


@dataclass
class ClipFeatures:
    """Clip-level features of a RAVDESS selection with labels (8 classes) and actors."""

    features: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    sources: list[str]


def ravdess_clip_features(root, feature_set: str, crop_seconds: float = 3.0,
                          encoder=None, cache_dir=".cache/speech_features",
                          dataset_cache=".cache/datasets", encoder_tag: str = ""
                          ) -> ClipFeatures:
    """Features of every RAVDESS speech clip under ``root`` (cached per feature set, clip
    list and front end); ``encoder`` is a ``NumpyGE2E`` (default: Resemblyzer's weights)."""
    from emoscope.data.audio import AudioFrontEnd, load_audio
    from emoscope.data.ravdess import load_ravdess, select_clips
    from emoscope.models.speech_features import (
        GE2E_LAYERS,
        cached_features,
        clip_feature_matrix,
        egemaps_vector,
        feature_cache_path,
        feature_parts,
        ge2e_features,
    )

    parts = feature_parts(feature_set)
    front = AudioFrontEnd()
    arrays = load_ravdess(root, "all", cache_dir=dataset_cache, front_end=front.to_dict())
    paths = [c.path for c in select_clips(root, "all")]
    frames = front.frames(crop_seconds) if crop_seconds > 0 else 0
    blocks = []
    for part in parts:
        # every GE2E set is cut from the cached layers 1-2 (mean + std of each, in order)
        stored = part if part == "egemaps" else "ge2e_l12"
        path = None if cache_dir is None else feature_cache_path(
            cache_dir, stored, arrays.sources, front, crop_seconds if part != "egemaps" else 0,
            "" if part == "egemaps" else encoder_tag)
        if part == "egemaps":
            def compute(paths=paths):
                return clip_feature_matrix(
                    [lambda i: egemaps_vector(*load_audio(paths[i], front.sample_rate))],
                    len(paths))
        else:
            if encoder is None:
                encoder = default_encoder(front)

            def compute(encoder=encoder):
                return clip_feature_matrix(
                    [lambda i: ge2e_features(encoder, arrays.clip(i), (1, 2), frames)],
                    len(arrays))
        block = cached_features(path, compute)
        if part != "egemaps":
            block = block[:, np.concatenate([np.arange(512 * (k - 1), 512 * k)
                                             for k in GE2E_LAYERS[part]])]
        blocks.append(block)
    return ClipFeatures(np.concatenate(blocks, axis=1), arrays.labels,
                        np.asarray(arrays.speakers).astype(np.int64), list(arrays.sources))


def default_encoder(front_end):
    """The GE2E encoder's first two layers from Resemblyzer's weights, in numpy."""
    from emoscope.models.speech_numpy import NumpyGE2E, resemblyzer_numpy_weights

    return NumpyGE2E(resemblyzer_numpy_weights(2), front_end, layers=2)


CNN_REFUSAL = ("cross-validation retrains a model's recipe on every fold; {name} is a "
               "{arch} model (25-40 min per training on a CPU, three seeds per recipe), so "
               "--cv covers the linear-head speech models (features + logistic regression); "
               "its card keeps the actors 17-20 scores")


def model_recipe(card) -> LinearRecipe:
    """The linear-head recipe a model card records (``extra.cv_recipe``, or the GE2E probe's
    ``linear_probe`` entry); a UserError for models trained end to end."""
    import json as json_module

    stored = card.extra.get("cv_recipe")
    if stored is not None:
        return LinearRecipe(**{**stored, "cs": tuple(stored.get("cs", ()))})
    arch = card.architecture
    probe = card.extra.get("linear_probe")
    if arch == "speech_ge2e" and probe is not None:
        layers = int(card.architecture_kwargs.get("layers", 2))
        recipe = json_module.loads(card.recipe) if card.recipe else {}
        cs = recipe.get("linear_probe", {}).get("cs", [0.001, 0.003, 0.01, 0.03, 0.1])
        return LinearRecipe(features=f"ge2e_l{layers}",
                            crop_seconds=float(card.extra.get("crop_seconds", 3.0)),
                            cs=tuple(float(c) for c in cs))
    raise UserError(CNN_REFUSAL.format(name=card.name, arch=arch))


def model_encoder(weights_path):
    """The numpy GE2E encoder of a model file (its own stored LSTM weights)."""
    from safetensors.numpy import load_file

    from emoscope.data.audio import AudioFrontEnd
    from emoscope.models.speech_numpy import NumpyGE2E

    weights = load_file(str(weights_path))
    layers = sum(1 for k in weights if k.startswith("backbone.weight_ih_l"))
    return NumpyGE2E(weights, AudioFrontEnd(), layers=layers)


def cross_validate_model(model: str | None, root, num_folds: int = CV_FOLDS,
                         cache_dir=".cache/speech_features") -> dict[str, Any]:
    """``emoscope evaluate --dataset ravdess --cv 5``: a model's recipe retrained and scored on
    each actor fold of every RAVDESS speech clip under ``root``."""
    from pathlib import Path

    from emoscope.models.files.checkpoint import read_card
    from emoscope.models.files.zoo import resolve_model_path

    if num_folds != CV_FOLDS:
        raise UserError(f"--cv {num_folds}: the RAVDESS protocol is {CV_FOLDS} folds of 4 "
                        f"actors (01-04, ..., 17-20)")
    path = resolve_model_path(model, "speech_emotion")
    card = read_card(path)
    recipe = model_recipe(card)
    weights = Path(path).with_suffix(".safetensors")
    encoder = model_encoder(weights) if recipe.features.startswith("ge2e") else None
    tag = f"{weights.name}:{weights.stat().st_size}" if encoder is not None else ""
    data = ravdess_clip_features(root, recipe.features, recipe.crop_seconds, encoder,
                                 cache_dir, encoder_tag=tag)
    actors = sorted(set(data.speakers.tolist()))
    if actors != list(range(1, 21)):
        raise UserError(f"{root}: the RAVDESS CV protocol needs actors 01-20, found "
                        f"{', '.join(f'{a:02d}' for a in actors)}")
    result = cross_validate_features(data.features, data.labels, data.speakers, recipe)
    return {"model": card.name, "model_path": str(path), "root": str(root),
            "clips": len(data.labels), **result.to_dict()}
