"""Learnable synthetic faces and writers for FER2013 (folder + CSV layouts) and FER+ fixtures.

A face of class ``c`` is a noisy grey square with a bright horizontal bar in band ``c``
(rows ``4 + 6c`` to ``8 + 6c`` of 48), so a model can learn the class from where the bar is.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

# The FER2013 CSV order (emotion 0-6) and the Kaggle folder names.
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
BAND_START, BAND_HEIGHT, BAND_STEP = 4, 4, 6


def bar_face(cls: int, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """uint8 (size, size) grey face with the class bar; background noise in [40, 100]."""
    image = rng.integers(40, 101, size=(48, 48)).astype(np.uint8)
    top = BAND_START + BAND_STEP * cls
    image[top:top + BAND_HEIGHT, 6:42] = 230
    if size != 48:
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
    return image


@dataclass
class FerFixture:
    """What was written: the root and, per split, the drawn pattern and the stored label."""

    root: Path
    patterns: dict[str, list[int]] = field(default_factory=dict)
    labels: dict[str, list[int]] = field(default_factory=dict)


def _plan(per_class: int, wrong: int, seed: int) -> tuple[list[int], list[int]]:
    """Patterns and labels for ``per_class`` faces per class; the first ``wrong`` faces of each
    class get the next class's label (a known number of errors for a perfect model)."""
    patterns, labels = [], []
    for cls in range(len(FER_LABELS)):
        for i in range(per_class):
            patterns.append(cls)
            labels.append((cls + 1) % len(FER_LABELS) if i < wrong else cls)
    order = np.random.default_rng(seed).permutation(len(patterns))
    return [patterns[i] for i in order], [labels[i] for i in order]


def write_fer2013_folders(root: Path, train_per_class: int = 4, test_per_class: int = 2,
                          wrong_test: int = 0, seed: int = 0, fmt: str = "jpg") -> FerFixture:
    """Kaggle layout: ``train/<emotion>/Training_<id>.jpg`` and
    ``test/<emotion>/PublicTest_<id>.jpg``; ``wrong_test`` mislabelled test faces per class."""
    rng = np.random.default_rng(seed)
    fixture = FerFixture(root)
    for split, usage, per_class, wrong in (("train", "Training", train_per_class, 0),
                                           ("test", "PublicTest", test_per_class, wrong_test)):
        patterns, labels = _plan(per_class, wrong, seed + len(split))
        for index, (pattern, label) in enumerate(zip(patterns, labels, strict=True)):
            folder = root / split / FER_LABELS[label]
            folder.mkdir(parents=True, exist_ok=True)
            image = Image.fromarray(bar_face(pattern, rng))
            image.save(folder / f"{usage}_{index + 1000}.{fmt}", quality=95)
        fixture.patterns[split], fixture.labels[split] = patterns, labels
    return fixture


def write_fer2013_csv(root: Path, train_per_class: int = 4, public_per_class: int = 2,
                      private_per_class: int = 2, wrong_test: int = 0, seed: int = 0) -> FerFixture:
    """Original layout: ``root/fer2013.csv`` with ``emotion,pixels,Usage`` rows in that order."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    fixture = FerFixture(root)
    with open(root / "fer2013.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["emotion", "pixels", "Usage"])
        for usage, per_class, wrong in (("Training", train_per_class, 0),
                                        ("PublicTest", public_per_class, wrong_test),
                                        ("PrivateTest", private_per_class, wrong_test)):
            patterns, labels = _plan(per_class, wrong, seed + len(usage))
            for pattern, label in zip(patterns, labels, strict=True):
                pixels = " ".join(str(v) for v in bar_face(pattern, rng).ravel())
                writer.writerow([label, pixels, usage])
            fixture.patterns[usage], fixture.labels[usage] = patterns, labels
    return fixture


FERPLUS_HEADER = ["Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger",
                  "disgust", "fear", "contempt", "unknown", "NF"]


def write_ferplus_csv(path: Path, rows: list[tuple[str, str, list[int]]]) -> Path:
    """``fer2013new.csv``: (Usage, Image name, 10 vote counts) per row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FERPLUS_HEADER)
        for usage, name, votes in rows:
            writer.writerow([usage, name, *votes])
    return path


def ferplus_rows_for_csv(fixture: FerFixture) -> list[tuple[str, str, list[int]]]:
    """Votes for every row of a ``write_fer2013_csv`` fixture, in FER2013 row order.

    Row i (fer%07d.png) gets 8 votes for FER+ class ``i % 8`` and 2 for neutral; every fifth
    row is voted 'unknown' (dropped) and a row of the test halves gets an empty name (dropped
    by FER+ itself).
    """
    rows = []
    i = 0
    for usage in ("Training", "PublicTest", "PrivateTest"):
        for _ in fixture.labels[usage]:
            votes = [0] * 10
            if i % 5 == 4:
                votes[8] = 6
                votes[0] = 4
            else:
                votes[i % 8] += 8
                votes[0] += 2
            name = "" if (usage != "Training" and i % 7 == 0) else f"fer{i:07d}.png"
            rows.append((usage, name, votes))
            i += 1
    return rows
