"""Importing this module registers every built-in component in the registries."""

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

for _name in _MODULES:
    importlib.import_module(_name)
