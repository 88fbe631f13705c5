"""Importing this module registers every built-in component in the registries."""

import importlib

_MODULES = (
    "emoscope.models.backbones",
    "emoscope.models.classifier",
)

for _name in _MODULES:
    importlib.import_module(_name)
