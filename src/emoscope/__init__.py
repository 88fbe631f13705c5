"""emoscope: multimodal emotion recognition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from emoscope.inference.analyze import AnalyzeOptions, analyze

__all__ = ["AnalyzeOptions", "analyze", "__version__"]

# Heavy imports (torch, mediapipe, matplotlib) wait until a name is used: ``import emoscope``
# stays light for the CLI and for tools that only read versions.
_LAZY = {"analyze": "emoscope.inference.analyze", "AnalyzeOptions": "emoscope.inference.analyze"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emoscope' has no attribute '{name}'")
