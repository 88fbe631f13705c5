"""The pre-registered grid of docs/research/speech-cv.md: every linear-head candidate through
RAVDESS actor-disjoint 5-fold CV (C by inner CV), one JSON line per candidate.

    python benchmarks/speech_cv_grid.py --root ../shared/data/ravdess --out cv_grid.jsonl

Features are cached under .cache/speech_features, so a rerun only fits the heads.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from emoscope.evaluation.speech_cv import cross_validate_features, ravdess_clip_features
from emoscope.models.speech_linear import LinearRecipe

GRID = [(features, crop, norm)
        for norm in (False, True)
        for features, crop in [("ge2e_l2", 3.0), ("ge2e_l2", 0.0), ("ge2e_l12", 3.0),
                               ("ge2e_l12", 0.0), ("egemaps", 0.0),
                               ("ge2e_l2+egemaps", 3.0), ("ge2e_l2+egemaps", 0.0)]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="../shared/data/ravdess")
    parser.add_argument("--out", type=Path, default=Path("cv_grid.jsonl"))
    parser.add_argument("--part", default="0/1", help="k/n: run candidates k, k+n, ... only "
                        "(n processes share the grid)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    k, n = (int(v) for v in args.part.split("/"))
    for features, crop, norm in GRID[k::n]:
        recipe = LinearRecipe(features=features, crop_seconds=crop, speaker_norm=norm)
        started = time.perf_counter()
        data = ravdess_clip_features(args.root, features, crop)
        result = cross_validate_features(data.features, data.labels, data.speakers, recipe)
        row = {**result.to_dict(), "dims": int(data.features.shape[1]),
               "seconds": round(time.perf_counter() - started, 1)}
        summary = result.summary()
        print(f"{features:16s} crop {crop:3.1f} speaker_norm {norm!s:5s}  "
              f"acc {summary['accuracy_mean']:.2%} +- {summary['accuracy_std']:.2%}  "
              f"UAR {summary['uar_mean']:.2%} +- {summary['uar_std']:.2%}  "
              f"7-class {summary['accuracy_7class_mean']:.2%} / "
              f"{summary['uar_7class_mean']:.2%}", flush=True)
        with open(args.out, "a") as handle:
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
