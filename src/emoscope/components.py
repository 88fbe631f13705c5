"""Importing this module registers every built-in component in the registries."""

import importlib

_MODULES = (
    "emoscope.models.backbones",
    "emoscope.models.classifier",
    "emoscope.models.hybrid",
    "emoscope.models.fusion",
    "emoscope.models.heads",
    "emoscope.models.multistream",
    "emoscope.models.caernet",
    "emoscope.models.emotnet",
    "emoscope.models.face_only",
    "emoscope.models.counterfactual",
    "emoscope.models.emonet",
    "emoscope.models.caernet",
    "emoscope.models.emotnet",
    "emoscope.models.face_only",
    "emoscope.models.counterfactual",
    "emoscope.models.multitask",
    "emoscope.models.ensemble",
    "emoscope.models.speech",
    "emoscope.models.av_fusion",
    "emoscope.data.fer2013",
    "emoscope.data.image_folder",
    "emoscope.data.emotic.dataset",
    "emoscope.data.caer_s",
    "emoscope.data.emotic_clef",
    "emoscope.data.caer_s",
    "emoscope.data.affwild2",
    "emoscope.data.ravdess",
    "emoscope.data.crema_d",
    "emoscope.training.losses",
    "emoscope.training.losses_multilabel",
    "emoscope.training.losses_combined",
    "emoscope.training.losses_counterfactual",
    "emoscope.training.losses_multitask",
    "emoscope.inference.detectors.mediapipe_detector",
    "emoscope.inference.detectors.opencv_detector",
    "emoscope.inference.detectors.mtcnn_detector",
)

for _name in _MODULES:
    importlib.import_module(_name)
