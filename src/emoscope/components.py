"""Importing this module registers every built-in component in the registries (those this
install can build: without the train extra, the torch-based ones are left out)."""

import importlib

from emoscope.inference.detectors.base import DETECTOR_MODULES

_MODULES = (
    "emoscope.models.backbones",
    "emoscope.models.classifier",
    "emoscope.models.hybrid",
    "emoscope.models.fusion",
    "emoscope.models.heads",
    "emoscope.models.multistream",
    "emoscope.models.emonet",
    "emoscope.models.multitask",
    "emoscope.models.ensemble",
    "emoscope.models.speech",
    "emoscope.models.speech_ge2e",
    "emoscope.models.av_fusion",
    "emoscope.models.caernet",
    "emoscope.models.emotnet",
    "emoscope.models.face_only",
    "emoscope.models.counterfactual",
    "emoscope.data.fer2013",
    "emoscope.data.fer2013_pipeline",
    "emoscope.data.image_folder",
    "emoscope.data.emotic.dataset",
    "emoscope.data.affwild2",
    "emoscope.data.ravdess",
    "emoscope.data.crema_d",
    "emoscope.data.caer_s",
    "emoscope.data.emotic_clef",
    "emoscope.training.losses",
    "emoscope.training.losses_multilabel",
    "emoscope.training.losses_combined",
    "emoscope.training.losses_multitask",
    "emoscope.training.losses_counterfactual",
    *DETECTOR_MODULES,
)

# Packages of the train extra. A module that needs one is skipped where it is not installed
# (the analysis install): the registries then hold what this install can build.
TRAINING_STACK = ("torch", "torchvision", "timm", "lightning", "torchmetrics", "sklearn",
                  "imblearn")


def load(modules: tuple[str, ...] = _MODULES) -> list[str]:
    """Import ``modules`` (default: all); returns those skipped for a missing training stack."""
    skipped = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if (err.name or "").split(".")[0] not in TRAINING_STACK:
                raise
            skipped.append(name)
    return skipped


SKIPPED = load()
