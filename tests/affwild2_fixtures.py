"""A tiny Aff-Wild2 tree in the published layouts, with learnable frames.

``cropped_aligned/<video>/<frame:05d>.jpg``, per-video annotation files per task
(``annotations/{VA_Estimation,EXPR_Recognition,AU_Detection}_Challenge/{Train,Validation}_Set``)
and the multi-task list files (``MTL_Challenge/{training,validation}_set_annotations.txt``).

A frame shows its labels without depending on position (so a pooled network can learn them):
expression ``c`` sets the green level, valence / arousal the red / blue level, and each active
AU lights one square of a 4x3 grid. Missing labels follow the published markers (-5 VA, -1
expression and AU); one annotated frame per video has no image (no face found), and one video
has no AU file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

EXPRESSIONS = ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other")
AUS = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15", "AU23", "AU24", "AU25", "AU26")
SIZE = 48
TASK_DIRS = {"va": "VA_Estimation_Challenge", "expr": "EXPR_Recognition_Challenge",
             "au": "AU_Detection_Challenge"}
SPLIT_DIRS = {"train": "Train_Set", "val": "Validation_Set"}
LIST_NAMES = {"train": "training_set_annotations.txt", "val": "validation_set_annotations.txt"}


@dataclass
class FrameLabels:
    expression: int  # -1 missing
    valence_arousal: tuple[float, float] | None
    action_units: tuple[int, ...] | None


@dataclass
class AffWild2Fixture:
    root: Path
    # per split: "<video>/<frame>.jpg" -> labels of frames that have an image and a label
    expected: dict[str, dict[str, FrameLabels]] = field(default_factory=dict)


def draw_frame(expression: int, va: tuple[float, float], aus: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    image = rng.integers(0, 30, size=(SIZE, SIZE, 3)).astype(np.int16)
    image[..., 0] += int(round(110 + 100 * va[0]))
    image[..., 2] += int(round(110 + 100 * va[1]))
    image[..., 1] += 15 + 28 * expression
    for k, active in enumerate(aus):
        if active > 0:
            row, col = divmod(k, 4)
            y, x = 30 + 6 * row, 6 + 10 * col
            image[y:y + 4, x:x + 6] = 255
    return np.clip(image, 0, 255).astype(np.uint8)


def _plan_video(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    expr = np.arange(n) % len(EXPRESSIONS)
    va = np.round(rng.uniform(-0.9, 0.9, size=(n, 2)), 3)
    aus = (rng.random((n, len(AUS))) < 0.4).astype(np.int64)
    return expr, va, aus


def _write_lines(path: Path, header: str, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "\n".join(rows) + "\n")


def write_affwild2(root: Path, frames: int = 16, train_videos: int = 2, val_videos: int = 1,
                   mtl: bool = True, seed: int = 0) -> AffWild2Fixture:
    """Write the tree; ``frames`` annotated frames per video."""
    rng = np.random.default_rng(seed)
    fixture = AffWild2Fixture(root)
    names = {"train": [f"{i + 1}-30-640x360" for i in range(train_videos)],
             "val": [f"{100 + i}-24-1280x720" for i in range(val_videos)]}
    for split, videos in names.items():
        fixture.expected[split] = {}
        list_rows = []
        for v, video in enumerate(videos):
            expr, va, aus = _plan_video(frames, rng)
            expr_out, va_out, au_out = expr.copy(), va.copy(), aus.copy()
            expr_out[1::5] = -1  # missing expression, VA kept
            va_out[2::6] = -5  # missing VA
            au_out[3::7] = -1
            no_image = frames - 2  # annotated, but the organisers found no face
            has_au_file = v != 1  # the second training video is not in the AU set
            if not has_au_file:
                au_out[:] = -1
            for i in range(frames):
                if i != no_image:
                    img = draw_frame(int(expr[i]), tuple(va[i]), aus[i], rng)
                    folder = root / "cropped_aligned" / video
                    folder.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(img).save(folder / f"{i + 1:05d}.jpg", quality=95)
                source = f"{video}/{i + 1:05d}.jpg"
                labels = FrameLabels(int(expr_out[i]),
                                     None if va_out[i, 0] == -5 else tuple(va_out[i]),
                                     None if au_out[i, 0] == -1 else tuple(au_out[i]))
                has_any = labels.expression >= 0 or labels.valence_arousal or \
                    labels.action_units
                if i != no_image and has_any:
                    fixture.expected[split][source] = labels
                list_rows.append(",".join([source, f"{va_out[i, 0]:g}", f"{va_out[i, 1]:g}",
                                           str(expr_out[i]), *(str(a) for a in au_out[i])]))
            base = root / "annotations"
            split_dir = SPLIT_DIRS[split]
            _write_lines(base / TASK_DIRS["va"] / split_dir / f"{video}.txt", "valence,arousal",
                         [f"{a:g},{b:g}" for a, b in va_out])
            _write_lines(base / TASK_DIRS["expr"] / split_dir / f"{video}.txt",
                         ",".join(EXPRESSIONS), [str(e) for e in expr_out])
            if has_au_file:
                _write_lines(base / TASK_DIRS["au"] / split_dir / f"{video}.txt", ",".join(AUS),
                             [",".join(str(a) for a in row) for row in au_out])
        if mtl:
            _write_lines(root / "MTL_Challenge" / LIST_NAMES[split],
                         "image,valence,arousal,expression," + ",".join(AUS), list_rows)
    return fixture
