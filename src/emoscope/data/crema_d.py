"""CREMA-D: ``AudioWAV/AAAA_SSS_EEE_LL.wav`` (actor 1001-1091, sentence, emotion ANG, DIS, FEA,
HAP, NEU, SAD, level LO/MD/HI/XX). Labels are the intended emotion of the file name, or the
crowd's vote from ``processedResults/summaryTable.csv`` (voice, face or multimodal; ties such
as ``A:S`` are left out). Folds are contiguous groups of the sorted actor IDs."""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.data.audio import AudioFrontEnd
from emoscope.data.ravdess import split_actors
from emoscope.data.speech_arrays import SpeechArrays, load_spectrograms, spectrogram_cache
from emoscope.errors import DataFormatError, UserError
from emoscope.labels import CREMAD_LABELS
from emoscope.registry import DATASETS

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")
EMOTION_CODES = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")
LEVELS = ("LO", "MD", "HI", "XX")
VOTE_LETTERS = {"A": 0, "D": 1, "F": 2, "H": 3, "N": 4, "S": 5}
VOTE_COLUMNS = {"voice": "voicevote", "face": "facevote", "multimodal": "multimodalvote"}


@dataclass(frozen=True)
class CremaClip:
    path: Path
    actor: int
    sentence: str
    emotion: int  # index into CREMAD_LABELS
    level: str


def parse_crema_name(path: str | Path) -> CremaClip:
    """Fields of a CREMA-D file name; ``DataFormatError`` naming the file when it is not one."""
    path = Path(path)
    match = _NAME.match(path.stem)
    if match is None:
        raise DataFormatError(path, "not a CREMA-D file name (expected AAAA_SSS_EEE_LL.wav)")
    actor, sentence, emotion, level = match.groups()
    if emotion not in EMOTION_CODES:
        raise DataFormatError(path, f"emotion {emotion} not in {', '.join(EMOTION_CODES)}")
    if level not in LEVELS:
        raise DataFormatError(path, f"level {level} not in {', '.join(LEVELS)}")
    return CremaClip(path, int(actor), sentence, EMOTION_CODES.index(emotion), level)


def _audio_dir(root: Path) -> Path:
    folder = root / "AudioWAV"
    return folder if folder.is_dir() else root


def read_votes(root: Path, which: str) -> dict[str, int | None]:
    """File stem -> voted class (None for ties) from ``processedResults/summaryTable.csv``."""
    column = VOTE_COLUMNS.get(which)
    if column is None:
        raise UserError(f"unknown CREMA-D labels '{which}'; use intended, "
                        f"{', '.join(VOTE_COLUMNS)}")
    table = root / "processedResults" / "summaryTable.csv"
    if not table.is_file():
        raise UserError(f"{table}: vote table not found (needed for labels '{which}')")
    with open(table, newline="") as handle:
        reader = csv.DictReader(handle)
        fields = {(f or "").strip().lower().replace(" ", ""): f for f in reader.fieldnames or []}
        for needed in ("filename", column):
            if needed not in fields:
                raise DataFormatError(table, f"missing column '{needed}'")
        votes: dict[str, int | None] = {}
        for line, row in enumerate(reader, start=2):
            vote = (row[fields[column]] or "").strip().upper()
            name = (row[fields["filename"]] or "").strip()
            if ":" in vote:  # a tie between emotions
                votes[name] = None
            elif vote in VOTE_LETTERS:
                votes[name] = VOTE_LETTERS[vote]
            else:
                raise DataFormatError(table, f"line {line}: vote '{vote}' is not one of "
                                      f"{', '.join(VOTE_LETTERS)}")
    return votes


def select_crema(root: str | Path, split: str = "all", num_folds: int = 5, val_fold: int = -1,
                 actors: Sequence[int] | None = None, labels: str = "intended",
                 max_per_emotion: int = 0, seed: int = 0) -> list[tuple[CremaClip, int]]:
    """(clip, label) pairs of a split, sorted by path."""
    root = Path(root)
    if not root.exists():
        raise UserError(f"{root}: dataset root not found")
    clips = [parse_crema_name(p) for p in sorted(_audio_dir(root).glob("*.wav"))]
    if not clips:
        raise DataFormatError(root, "no CREMA-D files found (expected AudioWAV/"
                              "AAAA_SSS_EEE_LL.wav)")
    wanted = set(actors) if actors else set(split_actors([c.actor for c in clips], split,
                                                         num_folds, val_fold))
    votes = None if labels == "intended" else read_votes(root, labels)
    pairs = []
    for clip in clips:
        if clip.actor not in wanted:
            continue
        label = clip.emotion if votes is None else votes.get(clip.path.stem)
        if label is not None:
            pairs.append((clip, label))
    if max_per_emotion > 0:
        rng = np.random.default_rng(seed)
        kept = []
        for c in range(len(CREMAD_LABELS.labels)):
            group = [p for p in pairs if p[1] == c]
            kept += [group[i] for i in sorted(rng.permutation(len(group))[:max_per_emotion])]
        pairs = sorted(kept, key=lambda p: str(p[0].path))
    if not pairs:
        raise DataFormatError(root, f"no labelled CREMA-D clips for split '{split}'")
    return pairs


@DATASETS.register("crema_d")
def load_crema_d(root: str | Path, split: str = "all", cache_dir: str | Path | None = None,
                 num_folds: int = 5, val_fold: int = -1, actors: Sequence[int] | None = None,
                 labels: str = "intended", max_per_emotion: int = 0,
                 front_end: dict[str, Any] | None = None) -> SpeechArrays:
    """CREMA-D speech as log-mel spectrograms in the 6-class space."""
    front = AudioFrontEnd.from_dict(front_end or {})
    pairs = select_crema(root, split, num_folds, val_fold, actors, labels, max_per_emotion)
    paths = [clip.path for clip, _ in pairs]
    cache = spectrogram_cache(cache_dir, f"crema_d-{split}-{labels}", paths, front)
    features, lengths = load_spectrograms(paths, front, cache)
    root = Path(root)
    return SpeechArrays(features, lengths, np.array([label for _, label in pairs], np.int64),
                        CREMAD_LABELS, front, [str(p.relative_to(root)) for p in paths],
                        np.array([clip.actor for clip, _ in pairs], dtype=np.int64))
