"""Fit a cross-validated GE2E linear-head recipe on all RAVDESS actors 01-20 and write it as an
ordinary ``speech_ge2e`` model file (safetensors + card), so every entry point (ONNX Runtime
graph, PyTorch, ensembles) runs it unchanged.

    python -m emoscope.training.speech_linear_fit --root ../shared/data/ravdess \
        --features ge2e_l2 --crop 3 --name NAME --out DIR

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


def stored_encoder_weights(layers: int = 2) -> dict[str, np.ndarray]:
    """Resemblyzer's LSTM layers as the shipped file stores them (float16), back in float32,
    so training features are exactly those inference computes."""
    from emoscope.models.speech_numpy import resemblyzer_numpy_weights

    return {k: v.astype(np.float16).astype(np.float32)
            for k, v in resemblyzer_numpy_weights(layers).items()}


def pool_layers_of(recipe: LinearRecipe) -> tuple[int, ...]:
    from emoscope.models.speech_features import GE2E_LAYERS

    if recipe.features not in GE2E_LAYERS or recipe.speaker_norm:
        raise UserError(f"only GE2E features with global normalisation ship as a model file "
                        f"(got {recipe.features}, speaker_norm {recipe.speaker_norm})")
    return GE2E_LAYERS[recipe.features]


def build_network(weights: dict[str, np.ndarray], head: LinearHead, pool: tuple[int, ...]):
    """A ``speech_ge2e`` network holding the encoder weights and the fitted head."""
    import torch

    from emoscope.models.speech_ge2e import SpeechGE2E
    from emoscope.training.speech_probe import install_head

    network = SpeechGE2E(num_classes=head.num_classes, layers=max(pool), pool_layers=pool,
                         spec_augment=False)
    with torch.no_grad():
        for name, value in weights.items():
            network.get_parameter(name).copy_(torch.from_numpy(value))
    install_head(network, head.mean, head.scale ** 2, head.coef, head.intercept)
    return network.eval()


def fit_final(root: str | Path, recipe: LinearRecipe, name: str, out: Path,
              cv_report: dict | None = None) -> Path:
    """Choose C over the 5 protocol folds, fit on every clip, write ``out/name``."""
    from threadpoolctl import threadpool_limits

    from emoscope.data.audio import AudioFrontEnd
    from emoscope.evaluation.speech_cv import CV_FOLDS, inner_choose_c, ravdess_clip_features
    from emoscope.models.speech_linear import fit_linear_head
    from emoscope.models.speech_numpy import NumpyGE2E

    pool = pool_layers_of(recipe)
    weights = stored_encoder_weights(max(pool))
    encoder = NumpyGE2E(weights, AudioFrontEnd(), layers=max(pool))
    data = ravdess_clip_features(root, recipe.features, recipe.crop_seconds, encoder,
                                 encoder_tag="resemblyzer-float16")
    with threadpool_limits(limits=1):
        c, scores = inner_choose_c(data.features, data.labels, data.speakers, recipe,
                                   folds=CV_FOLDS)
        head = fit_linear_head(data.features, data.labels, c)
    network = build_network(weights, head, pool)
    check_against_numpy(network, head, root, data, recipe)
    card = final_card(name, recipe, network, c, scores, data, cv_report)
    from emoscope.models.checkpoint import save_model

    return save_model(network, card, out / name, precision="float16")


def check_against_numpy(network, head: LinearHead, root, data, recipe: LinearRecipe,
                        count: int = 8) -> None:
    """The torch network gives the numpy head's probabilities on the first clips."""
    import torch

    from emoscope.data.audio import AudioFrontEnd, fit_frames
    from emoscope.data.ravdess import load_ravdess

    front = AudioFrontEnd()
    arrays = load_ravdess(root, "all", cache_dir=".cache/datasets", front_end=front.to_dict())
    frames = front.frames(recipe.crop_seconds) if recipe.crop_seconds > 0 else 0
    gap = 0.0
    for i in range(count):
        spec = fit_frames(arrays.clip(i), frames) if frames else arrays.clip(i)
        with torch.inference_mode():
            logits = network(torch.from_numpy(np.ascontiguousarray(spec[None])))["logits"]
        expected = head.predict_proba(data.features[i:i + 1])[0]
        gap = max(gap, float(np.abs(logits.softmax(1).numpy()[0] - expected).max()))
    if gap > 1e-3:
        raise RuntimeError(f"the network and the numpy head differ by {gap:.3g}")
    log.info("network and numpy head agree within %.2g", gap)


def final_card(name: str, recipe: LinearRecipe, network, c: float, scores: dict,
               data, cv_report: dict | None):
    from emoscope.data.audio import AudioFrontEnd
    from emoscope.labels import RAVDESS_LABELS
    from emoscope.models.checkpoint import ModelCard
    from emoscope.models.preprocessing import Preprocessing

    front = AudioFrontEnd()
    frames = front.frames(recipe.crop_seconds or 3.0)
    extra = {"audio": front.to_dict(), "crop_seconds": recipe.crop_seconds,
             "input": "log-mel (n_mels, frames), natural log of mel power + 1e-6",
             "speakers": {"train": sorted(set(map(int, data.speakers))), "val": []},
             "cv_recipe": {**asdict(recipe), "cs": list(recipe.cs)},
             "final_fit": {"C": c, "protocol_fold_uar": scores,
                           "c_choice": "5 protocol folds of actors 01-20, highest mean UAR"}}
    if cv_report is not None:
        extra["cv"] = cv_report
    kwargs = {"num_classes": network.head[-1].out_features, "n_mels": front.n_mels,
              "layers": network.backbone.num_layers, "pool_layers": list(network.pool_layers),
              "spec_augment": False, "front_end": front.to_dict()}
    return ModelCard(
        name=name, architecture="speech_ge2e", architecture_kwargs=kwargs,
        label_space=RAVDESS_LABELS, task="speech_emotion",
        preprocessing=Preprocessing((1, front.n_mels, frames), (0.0,), (1.0,)),
        data=f"RAVDESS speech, actors 01-20, every clip ({len(data.labels)})",
        recipe=json.dumps({**asdict(recipe), "cs": list(recipe.cs), "C": c}, sort_keys=True),
        command=shlex.join(["python", "-m", "emoscope.training.speech_linear_fit",
                            *sys.argv[1:]]),
        extra=extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="../shared/data/ravdess")
    parser.add_argument("--features", default="ge2e_l2")
    parser.add_argument("--crop", type=float, default=3.0)
    parser.add_argument("--name", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cv-report", type=Path, help="a --cv JSON report to copy into the "
                        "card")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    recipe = LinearRecipe(features=args.features, crop_seconds=args.crop)
    report = json.loads(args.cv_report.read_text()) if args.cv_report else None
    args.out.mkdir(parents=True, exist_ok=True)
    print(fit_final(args.root, recipe, args.name, args.out, report))


if __name__ == "__main__":
    main()
