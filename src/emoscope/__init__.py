"""emoscope: multimodal emotion recognition."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# PyTorch's OpenMP workers spin while waiting by default; next to MediaPipe's and FFmpeg's
# threads (or any other busy process) on a small CPU they starve the thread doing real work:
# on 2 cores the classifier ran 5-40x slower. Passive waiting costs little when idle. It only
# takes effect if torch is not imported yet, and a value set by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# OpenCV's FFmpeg prints its own complaints ("moov atom not found") to the terminal before our
# one-line error about the same file; it reads this once, when cv2 is imported.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

if TYPE_CHECKING:
    from emoscope.inference.analyze import AnalyzeOptions, analyze
    from emoscope.inference.in_memory import EmotionAnalyzer

__all__ = ["AnalyzeOptions", "EmotionAnalyzer", "analyze", "__version__"]

# Heavy imports (torch, mediapipe, matplotlib) wait until a name is used: ``import emoscope``
# stays light for the CLI and for tools that only read versions.
_LAZY = {"analyze": "emoscope.inference.analyze", "AnalyzeOptions": "emoscope.inference.analyze",
         "EmotionAnalyzer": "emoscope.inference.in_memory"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emoscope' has no attribute '{name}'")
