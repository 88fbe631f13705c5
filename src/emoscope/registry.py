"""Named registries: the extension points of emoscope (detectors, backbones, fusions, ...).

Each registry names the built-in modules whose ``register`` decorators fill it and imports them
on its first lookup, so no caller imports a module for its side effect. A plug-in outside the
package registers by being imported before its name is looked up.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from emoscope.errors import UserError

T = TypeVar("T")

# Packages of the train extra. A built-in module that needs one is skipped where it is not
# installed (the analysis install): the registries then hold what this install can build.
TRAINING_STACK = ("torch", "torchvision", "timm", "lightning", "torchmetrics", "sklearn",
                  "imblearn")


def import_modules(modules: Sequence[str]) -> list[str]:
    """Import ``modules``; returns those skipped for a missing training stack."""
    skipped = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if (err.name or "").split(".")[0] not in TRAINING_STACK:
                raise
            skipped.append(name)
    return skipped


class Registry(Generic[T]):
    """A name -> factory table filled by the ``register`` decorator; ``modules`` (the built-in
    entries' modules) are imported on the first lookup."""

    def __init__(self, kind: str, modules: Sequence[str] = ()):
        self.kind = kind
        self.modules = tuple(modules)
        self.skipped: list[str] = []  # built-in modules this install cannot import
        self._entries: dict[str, Callable[..., T]] = {}
        self._loaded = not self.modules
        self._loading = False
        self._lock = threading.RLock()

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:  # other threads wait for the whole table
            if self._loaded or self._loading:  # a module being imported looks this one up
                return
            self._loading = True
            try:
                self.skipped = import_modules(self.modules)
                self._loaded = True
            finally:
                self._loading = False

    def register(self, name: str | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            key = (name or factory.__name__).lower()
            if key in self._entries and self._entries[key] is not factory:
                raise ValueError(f"{self.kind} '{key}' is registered twice")
            self._entries[key] = factory
            return factory

        return decorate

    def get(self, name: str) -> Callable[..., T]:
        self._load()
        key = name.lower()
        if key not in self._entries:
            known = ", ".join(self.names()) or "(none)"
            raise UserError(f"unknown {self.kind} '{name}'; known {self.kind}s: {known}")
        return self._entries[key]

    def build(self, name: str, **kwargs: Any) -> T:
        return self.get(name)(**kwargs)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


DETECTORS: Registry[Any] = Registry("detector", (
    "emoscope.faces.detectors.mediapipe_detector",
    "emoscope.faces.detectors.opencv_detector",
    "emoscope.faces.detectors.mtcnn_detector",
))
BACKBONES: Registry[Any] = Registry("backbone", ("emoscope.models.backbones",))
FUSIONS: Registry[Any] = Registry("fusion", ("emoscope.models.fusion",))
HEADS: Registry[Any] = Registry("head", ("emoscope.models.heads",))
LOSSES: Registry[Any] = Registry("loss", (
    "emoscope.training.losses",
    "emoscope.training.losses_multilabel",
    "emoscope.training.losses_combined",
    "emoscope.training.losses_multitask",
    "emoscope.training.losses_counterfactual",
))
DATASETS: Registry[Any] = Registry("dataset", (
    "emoscope.data.fer2013",
    "emoscope.data.fer2013_pipeline",
    "emoscope.data.image_folder",
    "emoscope.data.emotic.dataset",
    "emoscope.data.affwild2",
    "emoscope.data.ravdess",
    "emoscope.data.crema_d",
    "emoscope.data.caer_s",
    "emoscope.data.emotic_clef",
))
MODELS: Registry[Any] = Registry("model", (
    "emoscope.models.classifier",
    "emoscope.models.hybrid",
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
))

ALL_REGISTRIES: dict[str, Registry[Any]] = {
    "detectors": DETECTORS,
    "backbones": BACKBONES,
    "fusions": FUSIONS,
    "heads": HEADS,
    "losses": LOSSES,
    "datasets": DATASETS,
    "models": MODELS,
}
