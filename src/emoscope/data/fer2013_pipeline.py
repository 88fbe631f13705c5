"""FER2013 training faces as the analysis pipeline crops them, beside the registered ones.

The crops come from ``emoscope.study.pipeline_crops`` (faces set into camera-like frames,
detected, aligned and cropped exactly as ``analyze`` does) and are stored in one ``.npz``:
``crops`` (V, N, 48, 48) uint8, ``found`` (V, N) bool, ``labels`` (N,), ``sources`` (N,) and the
framing ``seeds`` (V,). Splits:

- ``train``: the registered training faces and every detected pipeline crop, less the holdout;
- ``holdout``: the pipeline crops (first variant) of ``holdout`` training faces kept out of
  training for choosing epochs and settings (stratified, seeded);
- ``holdout_registered``: the same holdout faces as registered crops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emoscope.data.faces import FaceArrays
from emoscope.errors import DataFormatError, UserError
from emoscope.labels import FER2013_LABELS
from emoscope.registry import DATASETS
from emoscope.utils.files import atomic_path

CROP_SIDE = 48
# Framing seeds of the training crops; the pipeline protocol frames test faces with seed 0.
VARIANT_SEEDS = (101, 102, 103, 104)
SPLITS = ("train", "holdout", "holdout_registered")


def save_crops(path: Path, crops: np.ndarray, found: np.ndarray, labels: np.ndarray,
               sources: list[str], seeds: tuple[int, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, crops=crops, found=found, labels=labels,
                     sources=np.array(sources), seeds=np.asarray(seeds))


def holdout_indices(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` indices drawn per class in proportion to its size (at least one each)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        take = max(1, int(round(count * len(members) / len(labels))))
        chosen.append(rng.permutation(members)[:take])
    return np.sort(np.concatenate(chosen))


@DATASETS.register("fer2013_pipeline")
def load_fer2013_pipeline(root: str | Path, split: str = "train", crops: str | Path = "",
                          holdout: int = 2000, holdout_seed: int = 0, registered: bool = True,
                          cache_dir: str | Path | None = None) -> FaceArrays:
    """See the module docstring; ``crops`` is the ``.npz`` the crop builder wrote."""
    from emoscope.data.fer2013 import load_fer2013

    if split not in SPLITS:
        raise UserError(f"fer2013_pipeline: unknown split '{split}'; use one of "
                        f"{', '.join(SPLITS)}")
    stored = _read_crops(Path(crops))
    faces = load_fer2013(root, "train", cache_dir=cache_dir)
    if list(faces.sources) != list(stored["sources"]):
        raise DataFormatError(Path(crops), f"crops were cut from other faces than {root}/train "
                              "(rebuild them with python -m emoscope.study.pipeline_crops)")
    held = np.zeros(len(faces), bool)
    held[holdout_indices(faces.labels, holdout, holdout_seed)] = True
    found = stored["found"]
    if split == "holdout_registered":
        return faces.subset(np.flatnonzero(held))
    if split == "holdout":
        keep = np.flatnonzero(held & found[0])
        return FaceArrays(stored["crops"][0][keep], faces.labels[keep], FER2013_LABELS,
                          [f"{faces.sources[i]}#pipeline0" for i in keep])
    images, labels, sources = [], [], []
    if registered:
        keep = np.flatnonzero(~held)
        images.append(faces.images[keep])
        labels.append(faces.labels[keep])
        sources += [faces.sources[i] for i in keep]
    for v in range(len(found)):
        keep = np.flatnonzero(~held & found[v])
        images.append(stored["crops"][v][keep])
        labels.append(faces.labels[keep])
        sources += [f"{faces.sources[i]}#pipeline{v}" for i in keep]
    return FaceArrays(np.concatenate(images), np.concatenate(labels), FER2013_LABELS, sources)


def _read_crops(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise UserError(f"{path}: pipeline crops not found (build them with "
                        "python -m emoscope.study.pipeline_crops --out <file>)")
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = {k: data[k] for k in ("crops", "found", "labels", "sources")}
    except (OSError, ValueError, KeyError) as err:
        raise DataFormatError(path, f"not a pipeline-crop file ({err})") from None
    crops, found = stored["crops"], stored["found"]
    side = (CROP_SIDE, CROP_SIDE)
    if crops.ndim != 4 or crops.shape[2:] != side or found.shape != crops.shape[:2]:
        raise DataFormatError(path, f"crops have shape {crops.shape}, expected "
                              f"(variants, faces, {CROP_SIDE}, {CROP_SIDE})")
    return stored
