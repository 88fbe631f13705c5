"""A synthetic CAER-S with a planted context shortcut, written in the published layout
(``{train,test}/<class>/*.png`` + ``{split}_face_coords.json``).

Every frame is a coloured background with one "face": a grey square whose bright bar's height
gives the class (the true signal, low contrast and noisy: slower to learn). The background
colour is the class's colour in ``correlation`` of the training frames (another class's
otherwise) and unrelated to the label in the test frames. A model that leans on the context
scores well on train and falls on test; removing the context's direct effect should not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from emoscope.data.caer_faces import write_face_coords
from emoscope.labels import CAER_S_LABELS

WIDTH, HEIGHT, FACE = 64, 48, 18
CLASSES = ("Anger", "Happy", "Sad")
PALETTE = ((200, 40, 40), (40, 180, 60), (50, 60, 200), (200, 200, 40), (160, 60, 200),
           (40, 190, 190), (230, 130, 30))


def draw_frame(label: int, background: int, rng: np.random.Generator, n_classes: int,
               contrast: float = 40.0, noise: float = 25.0
               ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """One frame (H, W, 3 uint8) and its face box ``(x1, y1, x2, y2)``."""
    frame = np.empty((HEIGHT, WIDTH, 3), np.float32)
    frame[:] = np.asarray(PALETTE[background % len(PALETTE)], np.float32)
    frame += rng.normal(0.0, 12.0, frame.shape)
    x1 = int(rng.integers(2, WIDTH - FACE - 2))
    y1 = int(rng.integers(2, HEIGHT - FACE - 2))
    face = np.full((FACE, FACE), 120.0, np.float32)
    band = FACE // n_classes
    face[label * band:(label + 1) * band] += contrast
    face += rng.normal(0.0, noise, face.shape)
    frame[y1:y1 + FACE, x1:x1 + FACE] = face[..., None]
    return np.clip(frame, 0, 255).astype(np.uint8), (x1, y1, x1 + FACE, y1 + FACE)


def write_shortcut_caer(root: str | Path, train_per_class: int = 40, test_per_class: int = 20,
                        correlation: float = 0.95, classes: Sequence[str] = CLASSES,
                        seed: int = 0, contrast: float = 14.0, noise: float = 30.0) -> Path:
    """Write the dataset under ``root`` and return it."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    n = len(classes)
    for name in classes:
        CAER_S_LABELS.index(name)  # a KeyError names a class CAER-S does not have
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        boxes = {}
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                if split == "train" and rng.random() < correlation:
                    background = label
                elif split == "train":
                    background = int((label + rng.integers(1, n)) % n)
                else:
                    background = int(rng.integers(0, n))
                rgb, box = draw_frame(label, background, rng, n, contrast, noise)
                relative = f"{split}/{name}/{i:04d}.png"
                Image.fromarray(rgb).save(root / relative)
                boxes[relative] = box
        write_face_coords(root / f"{split}_face_coords.json", boxes)
    return root
