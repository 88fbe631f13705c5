"""Label spaces are data: each dataset declares one, and heads, metrics and files derive from it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

LabelKind = Literal["single_label", "multi_label", "regression"]


@dataclass(frozen=True)
class LabelSpace:
    """Name, kind and ordered label names of a prediction target."""

    name: str
    kind: LabelKind
    labels: tuple[str, ...]
    value_range: tuple[float, float] | None = None  # regression targets only
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        if self.value_range is not None:
            object.__setattr__(self, "value_range", tuple(self.value_range))
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"label space {self.name}: duplicate labels {self.labels}")

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise KeyError(f"'{label}' is not in label space {self.name}: {self.labels}") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelSpace:
        return cls(**data)


# The seven basic expressions in the order of the FER2013 CSV (emotion 0-6).
FER2013_LABELS = LabelSpace(
    "fer2013", "single_label", ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
)
FERPLUS_LABELS = LabelSpace(
    "ferplus",
    "single_label",
    ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"),
)
VALENCE_AROUSAL = LabelSpace("valence_arousal", "regression", ("valence", "arousal"), (-1.0, 1.0))

# EMOTIC (Kosti et al.): 26 discrete categories in the canonical order (index 0-25) and the
# continuous valence / arousal / dominance ratings on the published 1-10 scale.
EMOTIC_CATEGORIES = LabelSpace(
    "emotic_categories",
    "multi_label",
    (
        "Affection", "Anger", "Annoyance", "Anticipation", "Aversion", "Confidence",
        "Disapproval", "Disconnection", "Disquietment", "Doubt/Confusion", "Embarrassment",
        "Engagement", "Esteem", "Excitement", "Fatigue", "Fear", "Happiness", "Pain", "Peace",
        "Pleasure", "Sadness", "Sensitivity", "Suffering", "Surprise", "Sympathy", "Yearning",
    ),
)
EMOTIC_VAD = LabelSpace(
    "emotic_vad", "regression", ("valence", "arousal", "dominance"), (1.0, 10.0)
)

# Aff-Wild2 (ABAW): the 8 expressions in the order of the EXPR annotation header (index 0-7)
# and the 12 action units of the AU annotation header.
AFFWILD2_EXPRESSIONS = LabelSpace(
    "affwild2_expressions",
    "single_label",
    ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other"),
)
AFFWILD2_ACTION_UNITS = LabelSpace(
    "affwild2_action_units",
    "multi_label",
    ("AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15", "AU23", "AU24", "AU25", "AU26"),
)

# RAVDESS emotion codes 01-08 in order; the 7-class view merges calm into neutral.
RAVDESS_LABELS = LabelSpace(
    "ravdess",
    "single_label",
    ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"),
)
RAVDESS7_LABELS = LabelSpace(
    "ravdess7",
    "single_label",
    ("neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised"),
)
# CREMA-D emotion codes ANG, DIS, FEA, HAP, NEU, SAD in that order.
CREMAD_LABELS = LabelSpace(
    "crema_d", "single_label", ("angry", "disgust", "fear", "happy", "neutral", "sad")
)

# CAER-S (Lee et al. 2019): its seven class folders, in sorted order.
CAER_S_LABELS = LabelSpace(
    "caer_s", "single_label", ("Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
)


# Spellings of the same expression across datasets (CAER-S folders, FER+, RAVDESS, ...).
_ALIASES = {
    "anger": "angry", "disgusted": "disgust", "fearful": "fear", "happiness": "happy",
    "sadness": "sad", "surprised": "surprise",
}

def canonical_label(label: str) -> str:
    name = label.strip().lower()
    return _ALIASES.get(name, name)


# A label a target space lacks is counted as this one (RAVDESS 7 classes: calm -> neutral).
_MERGED_INTO = {"calm": "neutral"}


def label_map(source_labels: Sequence[str], target_labels: Sequence[str]) -> np.ndarray:
    """(source, target) 0/1 matrix by canonical name (calm -> neutral when the target has no
    calm); source labels without a counterpart map nowhere."""
    columns = {canonical_label(name): j for j, name in enumerate(target_labels)}
    matrix = np.zeros((len(source_labels), len(target_labels)), dtype=np.float64)
    for i, name in enumerate(source_labels):
        key = canonical_label(name)
        key = key if key in columns else _MERGED_INTO.get(key, key)
        if key in columns:
            matrix[i, columns[key]] = 1.0
    return matrix
