"""Fit a cross-validated linear-head recipe (GE2E [+ eGeMAPS] features) on all RAVDESS actors
01-20 and write it as a ``speech_linear`` model file (safetensors + card) that runs in numpy.

    python -m emoscope.training.speech_linear_fit --root ../shared/data/ravdess \
        --features ge2e_l2+egemaps --crop 3 --name NAME --out DIR

``C`` is chosen by the protocol's 5 actor folds over actors 01-20 (highest mean UAR, the
smaller on a tie); the card records the recipe (``extra.cv_recipe``) so that ``emoscope
evaluate --dataset ravdess --cv 5 --model NAME`` retrains and scores it per fold.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from emoscope.errors import UserError
from emoscope.models.speech_linear import LinearHead, LinearRecipe

log = logging.getLogger(__name__)


def pool_layers_of(recipe: LinearRecipe) -> tuple[tuple[int, ...], bool]:
    """(GE2E layers pooled, whether eGeMAPS is read) of a recipe that ships as a file."""
    from emoscope.models.speech_features import GE2E_LAYERS, feature_parts

    parts = feature_parts(recipe.features)
    ge2e = [p for p in parts if p in GE2E_LAYERS]
    if len(ge2e) != 1:
        raise UserError(f"only GE2E [+ eGeMAPS] features ship as a model file (got "
                        f"{recipe.features})")
    return GE2E_LAYERS[ge2e[0]], "egemaps" in parts


def fit_final(root: str | Path, recipe: LinearRecipe, name: str, out: Path,
              cv_report: dict | None = None) -> Path:
    """Choose C over the 5 protocol folds, fit on every clip, write ``out/name``."""
    from threadpoolctl import threadpool_limits

    from emoscope.data.audio import AudioFrontEnd
    from emoscope.evaluation.speech_cv import (
        CV_FOLDS,
        default_encoder,
        inner_choose_c,
        ravdess_clip_features,
    )
    from emoscope.models.speech_linear import (
        LinearSpeechModel,
        fit_linear_head,
        speaker_standardise,
    )

    pool, egemaps = pool_layers_of(recipe)
    encoder = default_encoder(AudioFrontEnd())  # Resemblyzer's layers 1-2, float32
    data = ravdess_clip_features(root, recipe.features, recipe.crop_seconds, encoder)
    if recipe.speaker_norm:
        data.features = speaker_standardise(data.features, data.speakers)
    with threadpool_limits(limits=1):
        c, scores = inner_choose_c(data.features, data.labels, data.speakers, recipe,
                                   folds=CV_FOLDS)
        head = fit_linear_head(data.features, data.labels, c)
    model = LinearSpeechModel(encoder, pool, egemaps, head, speaker_norm=recipe.speaker_norm)
    card = final_card(name, recipe, model, c, scores, data, cv_report)
    path = save_linear_model(model, card, out / name)
    check_saved_model(path, card, head, root, data, recipe)
    return path


def save_linear_model(model, card, stem: Path) -> Path:
    """``<stem>.safetensors`` (numpy) and ``<stem>.json``, written atomically."""
    from safetensors.numpy import save_file

    from emoscope.models.files.checkpoint import CARD_FORMAT
    from emoscope.utils.files import atomic_path, atomic_write_text

    weights = stem.with_suffix(".safetensors")
    with atomic_path(weights) as tmp:
        save_file(model.state(), str(tmp), metadata={"format": CARD_FORMAT, "name": card.name})
    atomic_write_text(stem.with_suffix(".json"), json.dumps(card.to_dict(), indent=2) + "\n")
    return weights


def check_saved_model(path: Path, card, head: LinearHead, root, data,
                      recipe: LinearRecipe) -> None:
    """The reloaded file gives the fitted head's probabilities on the first actor's clips."""
    from emoscope.data.audio import AudioFrontEnd, fit_frames, load_audio
    from emoscope.data.ravdess import load_ravdess
    from emoscope.models.speech_linear import load_linear_speech_model

    front = AudioFrontEnd()
    model = load_linear_speech_model(path, card)
    arrays = load_ravdess(root, "all", cache_dir=".cache/datasets", front_end=front.to_dict())
    frames = front.frames(recipe.crop_seconds) if recipe.crop_seconds > 0 else 0
    rows = np.flatnonzero(data.speakers == data.speakers[0])  # one speaker's clips
    specs = [fit_frames(arrays.clip(i), frames) if frames else arrays.clip(i) for i in rows]
    waves = [load_audio(Path(root) / arrays.sources[i], front.sample_rate)[0] for i in rows]
    got = model.predict(specs, waves, np.ones(len(specs), dtype=bool))
    gap = float(np.abs(got - head.predict_proba(data.features[rows])).max())
    if gap > 1e-3:
        raise RuntimeError(f"the saved model and the fitted head differ by {gap:.3g}")
    log.info("saved model reproduces the fitted head within %.2g", gap)


def final_card(name: str, recipe: LinearRecipe, model, c: float, scores: dict, data,
               cv_report: dict | None):
    from emoscope.data.audio import AudioFrontEnd
    from emoscope.labels import RAVDESS_LABELS
    from emoscope.models.files.checkpoint import ModelCard
    from emoscope.models.preprocessing import Preprocessing
    from emoscope.models.speech_linear import LINEAR_ARCHITECTURE

    front = AudioFrontEnd()
    frames = front.frames(recipe.crop_seconds or 3.0)
    extra = {"audio": front.to_dict(), "crop_seconds": recipe.crop_seconds,
             "input": "log-mel (n_mels, frames), natural log of mel power + 1e-6; and the "
                      "waveform when eGeMAPS is read",
             "speakers": {"train": sorted(set(map(int, data.speakers))), "val": []},
             "cv_recipe": {**asdict(recipe), "cs": list(recipe.cs)},
             "final_fit": {"C": c, "protocol_fold_uar": scores,
                           "c_choice": "5 protocol folds of actors 01-20, highest mean UAR"}}
    cv_scores = {}
    if cv_report is not None:
        extra["cv"] = cv_report
        cv_scores = {f"ravdess_cv5_{k}": round(float(v), 4) for k, v in cv_report.items()
                     if k.endswith(("_mean", "_std"))}
    kwargs = {"num_classes": model.head.num_classes, "features": recipe.features,
              "layers": max(model.pool_layers), "pool_layers": list(model.pool_layers),
              "egemaps": model.use_egemaps, "speaker_norm": model.speaker_norm}
    return ModelCard(
        name=name, architecture=LINEAR_ARCHITECTURE, architecture_kwargs=kwargs,
        label_space=RAVDESS_LABELS, task="speech_emotion",
        preprocessing=Preprocessing((1, front.n_mels, frames), (0.0,), (1.0,)),
        data=f"RAVDESS speech, actors 01-20, every clip ({len(data.labels)})",
        recipe=json.dumps({**asdict(recipe), "cs": list(recipe.cs), "C": c}, sort_keys=True),
        command=shlex.join(["python", "-m", "emoscope.training.speech_linear_fit",
                            *sys.argv[1:]]),
        scores=cv_scores, extra=extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="../shared/data/ravdess")
    parser.add_argument("--features", default="ge2e_l2")
    parser.add_argument("--crop", type=float, default=3.0)
    parser.add_argument("--name", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--speaker-norm", action="store_true",
                        help="z-score features per speaker (in analyze: per file)")
    parser.add_argument("--cv-report", type=Path, help="a --cv JSON report to copy into the "
                        "card")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    recipe = LinearRecipe(features=args.features, crop_seconds=args.crop,
                          speaker_norm=args.speaker_norm)
    report = json.loads(args.cv_report.read_text()) if args.cv_report else None
    args.out.mkdir(parents=True, exist_ok=True)
    print(fit_final(args.root, recipe, args.name, args.out, report))


if __name__ == "__main__":
    main()
