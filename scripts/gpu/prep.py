"""On the GPU machine: unpack the FER2013 arrays into emoscope's own dataset cache for ROOT
(so training there reads exactly the arrays it reads here) and write the student's start
(member 3 of the int8 teacher = shipped run 14, expanded) as a float32 model file.

    python scripts/gpu/prep.py ROOT
"""
import lzma
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, "src")
import emoscope.data.fer2013 as fer  # noqa: E402
from emoscope.data.faces import FaceArrays, save_cache  # noqa: E402
from emoscope.labels import FER2013_LABELS  # noqa: E402


def unmed(r: np.ndarray) -> np.ndarray:
    """The inverse of ``pack.med_residual``, row by row (each pixel needs its decoded
    neighbours), vectorised over the images."""
    r = r.astype(np.int16)
    x = r.copy()
    _, h, w = x.shape
    for i in range(1, h):
        for j in range(1, w):
            left, u, ul = x[:, i, j - 1], x[:, i - 1, j], x[:, i - 1, j - 1]
            mx, mn = np.maximum(left, u), np.minimum(left, u)
            p = np.where(ul >= mx, mn, np.where(ul <= mn, mx, left + u - ul))
            x[:, i, j] = (r[:, i, j] + p) & 255
    return x.astype(np.uint8)


def unpack(split: str, data_dir: Path = Path(".gpu/data")) -> FaceArrays:
    raw = np.frombuffer(lzma.decompress((data_dir / f"{split}.xz").read_bytes()), np.uint8)
    meta = lzma.decompress((data_dir / f"{split}_meta.xz").read_bytes())
    names, labels = meta.split(b"\0", 1)
    labels = np.frombuffer(labels, np.int8).astype(np.int64)
    images = unmed(raw.reshape(len(labels), 48, 48))
    return FaceArrays(images, labels, FER2013_LABELS, names.decode().split("\n"))


def seed_cache(root: Path, arrays: dict[str, FaceArrays], cache_dir: str) -> None:
    """Write ``arrays`` where ``load_fer2013(root, split, cache_dir)`` looks first (an empty
    folder layout stands in for the images)."""
    for split in arrays:
        (root / split).mkdir(parents=True, exist_ok=True)
    for split, split_arrays in arrays.items():
        save_cache(split_arrays, fer.fer2013_cache_path(root, split, cache_dir))


if __name__ == "__main__":
    root = Path(sys.argv[1])
    arrays = {s: unpack(s) for s in ("train", "test")}
    seed_cache(root, arrays, ".cache/datasets")
    for s in arrays:
        a = fer.load_fer2013(root, s, cache_dir=".cache/datasets")
        print(s, a.images.shape, np.bincount(a.labels), int(a.images.sum() % 1000003))
    from emoscope.models.checkpoint import ModelCard, load_model, save_model
    teacher, card = load_model(".gpu/teacher/gens-8-12-14.json")
    member = ModelCard.from_dict(card.architecture_kwargs["members"][2], "teacher member 3")
    print("student start:", member.name, member.scores)
    save_model(teacher.members[2], member, "runs/gpu/init/fer2013-lite0")
