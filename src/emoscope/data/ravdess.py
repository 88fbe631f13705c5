"""RAVDESS: labels from file names, speaker-independent folds, speech spectrograms.

Layout ``Actor_XX/MM-VV-EE-II-SS-RR-AA.{wav,flac,mp4}``: modality MM (01 audio-video,
02 video-only, 03 audio-only), vocal channel VV (01 speech, 02 song), emotion EE (01-08:
neutral, calm, happy, sad, angry, fearful, disgust, surprised), intensity II (01 normal,
02 strong), statement SS, repetition RR, actor AA (odd male, even female).
Folds are contiguous groups of the sorted actor IDs, never the listing order.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emoscope.data.audio import AudioFrontEnd
from emoscope.data.speech_arrays import SpeechArrays, load_spectrograms, spectrogram_cache
from emoscope.errors import DataFormatError, UserError
from emoscope.labels import RAVDESS7_LABELS, RAVDESS_LABELS, LabelSpace
from emoscope.registry import DATASETS

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
MEDIA_SUFFIXES = (".wav", ".flac", ".mp4")
MODALITIES = {1: "audio_video", 2: "video_only", 3: "audio_only"}
VOCAL_CHANNELS = {1: "speech", 2: "song"}
SPLITS = ("all", "train", "val", "test")


@dataclass(frozen=True)
class RavdessClip:
    """One RAVDESS file and the fields of its name (codes as integers)."""

    path: Path
    modality: int
    vocal_channel: int
    emotion: int  # 1-8
    intensity: int
    statement: int
    repetition: int
    actor: int

    @property
    def emotion_name(self) -> str:
        return RAVDESS_LABELS.labels[self.emotion - 1]

    @property
    def sex(self) -> str:
        return "male" if self.actor % 2 else "female"

    @property
    def utterance(self) -> tuple[int, int, int, int, int, int]:
        """What identifies the recording regardless of modality."""
        return (self.vocal_channel, self.emotion, self.intensity, self.statement,
                self.repetition, self.actor)

    def has_audio(self) -> bool:
        return self.modality in (1, 3)


def parse_ravdess_name(path: str | Path) -> RavdessClip:
    """Fields of a RAVDESS file name; ``DataFormatError`` naming the file when it is not one."""
    path = Path(path)
    match = _NAME.match(path.stem)
    if match is None:
        raise DataFormatError(path, "not a RAVDESS file name (expected MM-VV-EE-II-SS-RR-AA)")
    modality, vocal, emotion, intensity, statement, repetition, actor = map(int, match.groups())
    problems = []
    if modality not in MODALITIES:
        problems.append(f"modality {modality:02d} not in 01-03")
    if vocal not in VOCAL_CHANNELS:
        problems.append(f"vocal channel {vocal:02d} not in 01-02")
    if not 1 <= emotion <= 8:
        problems.append(f"emotion {emotion:02d} not in 01-08")
    if intensity not in (1, 2):
        problems.append(f"intensity {intensity:02d} not in 01-02")
    if actor < 1:
        problems.append(f"actor {actor:02d} must be >= 01")
    if problems:
        raise DataFormatError(path, "; ".join(problems))
    return RavdessClip(path, modality, vocal, emotion, intensity, statement, repetition, actor)


def label_space_for(label_set: str | int) -> LabelSpace:
    """'8' (the RAVDESS emotions) or '7' (calm merged into neutral)."""
    key = str(label_set).strip().lower()
    if key in ("8", "ravdess"):
        return RAVDESS_LABELS
    if key in ("7", "ravdess7"):
        return RAVDESS7_LABELS
    raise UserError(f"unknown RAVDESS label set '{label_set}'; use 8 or 7 (calm -> neutral)")


def clip_label(clip: RavdessClip, label_space: LabelSpace) -> int:
    name = clip.emotion_name
    if label_space.name == RAVDESS7_LABELS.name and name == "calm":
        name = "neutral"
    return label_space.index(name)


def scan_ravdess(root: str | Path) -> list[RavdessClip]:
    """Every RAVDESS media file under ``root`` (any depth), sorted by path.

    Media files whose names do not parse are skipped with one warning; a root with none is an
    error.
    """
    root = Path(root)
    if not root.exists():
        raise UserError(f"{root}: dataset root not found")
    clips, skipped = [], []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in MEDIA_SUFFIXES):
        try:
            clips.append(parse_ravdess_name(path))
        except DataFormatError as err:
            skipped.append(err)
    if skipped:
        log.warning("%s: skipped %d file(s) that are not RAVDESS files, e.g. %s", root,
                    len(skipped), skipped[0])
    if not clips:
        raise DataFormatError(root, "no RAVDESS files found (expected Actor_XX/"
                              "MM-VV-EE-II-SS-RR-AA.wav|flac|mp4)")
    return clips


def speaker_folds(actors: Sequence[int], num_folds: int) -> list[list[int]]:
    """Contiguous groups of the sorted unique actor IDs (20 actors, 5 folds: 1-4, ..., 17-20)."""
    unique = sorted(set(int(a) for a in actors))
    if not 1 <= num_folds <= len(unique):
        raise UserError(f"cannot make {num_folds} speaker folds from {len(unique)} actors")
    return [list(map(int, group)) for group in np.array_split(np.array(unique), num_folds)]


def split_actors(actors: Sequence[int], split: str, num_folds: int = 5,
                 val_fold: int = -1) -> list[int]:
    """The actors of ``split``: all, train (every fold but ``val_fold``) or val/test."""
    split = split.lower()
    if split not in SPLITS:
        raise UserError(f"unknown RAVDESS split '{split}'; use one of {', '.join(SPLITS)}")
    unique = sorted(set(int(a) for a in actors))
    if split == "all":
        return unique
    folds = speaker_folds(unique, num_folds)
    if not -num_folds <= val_fold < num_folds:
        raise UserError(f"val_fold {val_fold} out of range for {num_folds} folds")
    held_out = folds[val_fold]
    return held_out if split in ("val", "test") else [a for a in unique if a not in held_out]


def select_clips(root: str | Path, split: str = "all", num_folds: int = 5, val_fold: int = -1,
                 actors: Sequence[int] | None = None, vocal_channel: str = "speech",
                 modality: str = "audio", max_per_emotion: int = 0,
                 seed: int = 0) -> list[RavdessClip]:
    """The clips of a split: one file per utterance of the wanted modality.

    modality 'audio': the audio-only file, else the audio-video mp4 of the same utterance;
    'video': the audio-video mp4, else the video-only one. ``max_per_emotion`` > 0 keeps a
    random (seeded) subset of at most that many clips per emotion code.
    """
    clips = scan_ravdess(root)
    channels = {"speech": {1}, "song": {2}, "all": {1, 2}}.get(vocal_channel)
    if channels is None:
        raise UserError(f"unknown vocal channel '{vocal_channel}'; use speech, song or all")
    preference = {"audio": (3, 1), "video": (1, 2)}.get(modality)
    if preference is None:
        raise UserError(f"unknown RAVDESS modality '{modality}'; use audio or video")
    wanted = set(actors) if actors else set(split_actors([c.actor for c in clips], split,
                                                         num_folds, val_fold))
    chosen: dict[tuple, RavdessClip] = {}
    for clip in clips:
        if clip.vocal_channel not in channels or clip.actor not in wanted:
            continue
        if clip.modality not in preference:
            continue
        current = chosen.get(clip.utterance)
        if current is None or preference.index(clip.modality) < preference.index(
                current.modality):
            chosen[clip.utterance] = clip
    selected = sorted(chosen.values(), key=lambda c: str(c.path))
    if max_per_emotion > 0:
        selected = _limit_per_emotion(selected, max_per_emotion, seed)
    if not selected:
        raise DataFormatError(root, f"no {vocal_channel} {modality} clips for split '{split}'")
    return selected


def _limit_per_emotion(clips: list[RavdessClip], limit: int, seed: int) -> list[RavdessClip]:
    rng = np.random.default_rng(seed)
    keep: list[RavdessClip] = []
    for emotion in range(1, 9):
        group = [c for c in clips if c.emotion == emotion]
        keep.extend(group[i] for i in sorted(rng.permutation(len(group))[:limit]))
    return sorted(keep, key=lambda c: str(c.path))


@DATASETS.register("ravdess")
def load_ravdess(root: str | Path, split: str = "all", cache_dir: str | Path | None = None,
                 label_set: str = "8", num_folds: int = 5, val_fold: int = -1,
                 actors: Sequence[int] | None = None, vocal_channel: str = "speech",
                 max_per_emotion: int = 0, front_end: dict[str, Any] | None = None
                 ) -> SpeechArrays:
    """RAVDESS speech as log-mel spectrograms (audio-only files, or the sound of the
    audio-video mp4s), labelled in the 8- or 7-class space; split by actor folds."""
    front = AudioFrontEnd.from_dict(front_end or {})
    labels = label_space_for(label_set)
    clips = select_clips(root, split, num_folds, val_fold, actors, vocal_channel, "audio",
                         max_per_emotion)
    paths = [c.path for c in clips]
    cache = spectrogram_cache(cache_dir, f"ravdess-{split}", paths, front)
    features, lengths = load_spectrograms(paths, front, cache)
    root = Path(root)
    log.info("RAVDESS %s: %d clips of actors %s", split, len(clips),
             sorted({c.actor for c in clips}))
    return SpeechArrays(
        features, lengths, np.array([clip_label(c, labels) for c in clips], dtype=np.int64),
        labels, front, [str(c.path.relative_to(root)) for c in clips],
        np.array([c.actor for c in clips], dtype=np.int64),
    )
