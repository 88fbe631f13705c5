"""Teacher targets for distilling a speech ensemble into one model: the probabilities that
``scripts/export_speech_teacher.py`` stored per training clip and crop position."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emoscope.data.speech_arrays import SpeechArrays
from emoscope.errors import UserError


@dataclass(frozen=True)
class TeacherTargets:
    """offsets: (N, K) crop start frames; probs: (N, K, classes) teacher probabilities, both
    in the order of the training arrays."""

    offsets: np.ndarray
    probs: np.ndarray


def load_teacher(path: str | Path, arrays: SpeechArrays) -> TeacherTargets:
    """The teacher file's rows for every clip of ``arrays`` (matched by file name); a
    UserError naming the file when it is unreadable, misses clips or has other classes."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as stored:
            sources = [str(s) for s in stored["sources"]]
            offsets, probs = stored["offsets"], stored["probs"].astype(np.float32)
    except FileNotFoundError:
        raise UserError(f"{path}: teacher file not found") from None
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"{path}: not a teacher file of export_speech_teacher.py ({err})") \
            from None
    classes = arrays.label_space.num_classes
    if probs.ndim != 3 or probs.shape[2] != classes or offsets.shape != probs.shape[:2]:
        raise UserError(f"{path}: teacher probabilities of shape {probs.shape} do not fit "
                        f"{classes} classes")
    row = {name: i for i, name in enumerate(sources)}
    names = [Path(s).name for s in arrays.sources]
    missing = [n for n in names if n not in row]
    if missing:
        raise UserError(f"{path}: no teacher targets for {len(missing)} training clip(s), "
                        f"e.g. {missing[0]}")
    order = np.array([row[n] for n in names], dtype=np.int64)
    return TeacherTargets(offsets[order], probs[order])
