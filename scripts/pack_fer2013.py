"""Pack the FER2013 folder layout into one .npz of JPEG bytes (to move it to a GPU machine),
or unpack such a file back into the folder layout. The JPEG bytes are kept as they are."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SPLITS = ("train", "test")


def pack(root: Path, out: Path) -> None:
    arrays = {}
    for split in SPLITS:
        blobs, names = [], []
        for path in sorted((root / split).glob("*/*.jpg")):
            blobs.append(path.read_bytes())
            names.append(f"{path.parent.name}/{path.name}")
        lengths = np.array([len(b) for b in blobs], np.int64)
        arrays[f"{split}_bytes"] = np.frombuffer(b"".join(blobs), np.uint8)
        arrays[f"{split}_offsets"] = np.concatenate([[0], np.cumsum(lengths)])
        arrays[f"{split}_names"] = np.array(names, dtype="S")
    np.savez(out, **arrays)


def unpack(packed: Path, root: Path) -> None:
    with np.load(packed, allow_pickle=False) as data:
        for split in SPLITS:
            raw, offsets = data[f"{split}_bytes"], data[f"{split}_offsets"]
            for i, name in enumerate(data[f"{split}_names"]):
                target = root / split / name.decode()
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(raw[offsets[i]:offsets[i + 1]].tobytes())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--unpack", action="store_true")
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args()
    (unpack if args.unpack else pack)(args.source, args.target)
