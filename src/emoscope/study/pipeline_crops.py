"""Training faces as the pipeline crops them (issue: train for the crops users meet).

Each FER2013 training face is set into camera-like frames (``data/framing.py``, one frame per
variant seed), the frame goes through the default detector and the predictor's own crop
(margin, alignment of tilted faces, shrink to the model's native 48x48), and the crop of the
detection nearest to where the face was put is kept. The crops are cached as one ``.npz``
(``data/fer2013_pipeline.py`` reads it); nothing about a face's label is used to cut it.

    python -m emoscope.study.pipeline_crops --root ../shared/data/fer2013 --variants 2 \
        --out .cache/datasets/fer2013-pipeline-crops.npz
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np

from emoscope.data.faces import FaceArrays
from emoscope.data.fer2013_pipeline import CROP_SIDE, VARIANT_SEEDS, save_crops
from emoscope.data.framing import frame_face
from emoscope.errors import UserError
from emoscope.study.pipeline_protocol import match_face

log = logging.getLogger(__name__)


def native_crop_predictor(predictor):
    """A view of ``predictor`` whose crops stop at ``CROP_SIDE`` pixels (no upsampling to the
    model's input size), so they can be stored like the registered 48x48 faces."""
    card = predictor.card
    channels = card.preprocessing.input_size[0]
    prep = dataclasses.replace(card.preprocessing, input_size=(channels, CROP_SIDE, CROP_SIDE))
    view = copy.copy(predictor)
    view.card = dataclasses.replace(card, preprocessing=prep)
    return view


def pipeline_crops(faces: FaceArrays, variant_seeds: tuple[int, ...], detector, predictor,
                   report_every: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """(V, N, CROP_SIDE, CROP_SIDE) grey crops and a (V, N) bool "detected" mask; an
    undetected face's crop is all zeros."""
    crops = np.zeros((len(variant_seeds), len(faces), CROP_SIDE, CROP_SIDE), np.uint8)
    found = np.zeros((len(variant_seeds), len(faces)), bool)
    start = time.monotonic()
    for v, seed in enumerate(variant_seeds):
        for i in range(len(faces)):
            placed = frame_face(faces.images[i], seed, i)
            boxes = detector.detect(placed.frame)
            hit = match_face(boxes, placed.box)
            if hit is not None:
                crops[v, i] = predictor.crops(placed.frame, [boxes[hit]])[0][..., 0]
                found[v, i] = True
            if (i + 1) % report_every == 0:
                log.info("variant %d: %d/%d faces, %.0f%% found, %.0f s", v, i + 1,
                         len(faces), 100 * found[v, :i + 1].mean(), time.monotonic() - start)
    return crops, found


def build(root: str, out: Path, variants: int, split: str = "train",
          model: str | None = None, limit: int = 0) -> Path:
    from emoscope.inference.analyze import AnalyzeOptions, build_analyzer
    from emoscope.registry import DATASETS

    if not 1 <= variants <= len(VARIANT_SEEDS):
        raise UserError(f"--variants must be 1-{len(VARIANT_SEEDS)}, got {variants}")
    faces = DATASETS.get("fer2013")(root=root, split=split, cache_dir=".cache/datasets")
    if limit:
        faces = faces.subset(np.arange(min(limit, len(faces))))
    options = AnalyzeOptions(model=model, plots=False, voice=False)
    options.validate()
    analyzer = build_analyzer(options)
    try:
        crops, found = pipeline_crops(faces, VARIANT_SEEDS[:variants], analyzer.detector,
                                      native_crop_predictor(analyzer.predictor))
    finally:
        analyzer.detector.close()
    save_crops(out, crops, found, faces.labels, faces.sources, VARIANT_SEEDS[:variants])
    log.info("%s: %d faces x %d variants, %.1f%% detected", out, len(faces), variants,
             100 * found.mean())
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../shared/data/fer2013")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", type=int, default=2)
    parser.add_argument("--split", default="train")
    parser.add_argument("--model", default=None)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    build(args.root, args.out, args.variants, args.split, args.model, args.limit)


if __name__ == "__main__":
    main()
