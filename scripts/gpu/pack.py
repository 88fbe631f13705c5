"""Pack the decoded FER2013 arrays losslessly (MED predictor + lzma) for the GPU machine.

    python scripts/gpu/pack.py [ROOT] [OUT_DIR]   # defaults: ../shared/data/fer2013 .gpu/data
"""
import lzma
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, "src")
from emoscope.data.faces import FaceArrays  # noqa: E402
from emoscope.data.fer2013 import load_fer2013  # noqa: E402


def med_residual(x: np.ndarray) -> np.ndarray:
    """Each pixel minus the LOCO-I median predictor of its left, upper and upper-left
    neighbours (first row and column kept), modulo 256: about 0.70 of the bytes after lzma."""
    x = x.astype(np.int16)
    left, u, ul = x[:, 1:, :-1], x[:, :-1, 1:], x[:, :-1, :-1]
    mx, mn = np.maximum(left, u), np.minimum(left, u)
    p = np.where(ul >= mx, mn, np.where(ul <= mn, mx, left + u - ul))
    r = x.copy()
    r[:, 1:, 1:] = x[:, 1:, 1:] - p
    return r.astype(np.uint8)


def pack_split(arrays: FaceArrays, split: str, out_dir: Path) -> None:
    if arrays.soft_labels is not None:
        raise ValueError("soft labels are not packed")
    out_dir.mkdir(parents=True, exist_ok=True)
    residual = med_residual(arrays.images).tobytes()
    (out_dir / f"{split}.xz").write_bytes(lzma.compress(residual, preset=9 | lzma.PRESET_EXTREME))
    meta = "\n".join(arrays.sources).encode() + b"\0" + arrays.labels.astype(np.int8).tobytes()
    (out_dir / f"{split}_meta.xz").write_bytes(lzma.compress(meta))


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/fer2013"
    out = Path(sys.argv[2] if len(sys.argv) > 2 else ".gpu/data")
    for split in ("train", "test"):
        a = load_fer2013(root, split, cache_dir=".cache/datasets")
        pack_split(a, split, out)
        print(split, a.images.shape, np.bincount(a.labels))
