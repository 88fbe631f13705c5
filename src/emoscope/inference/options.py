"""What ``emoscope analyze`` is asked (``AnalyzeOptions``) and what it answers (``InputReport``,
``AnalysisReport``, the ``Progress`` hooks): types of their own, so the stages that take them
(the per-source run, the voice stage, the in-memory analyzer) need not import ``analyze``."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from emoscope.data.video import check_sample_fps
from emoscope.errors import UserError
from emoscope.inference.writers import WRITERS


@dataclass
class AnalyzeOptions:
    """Every option of ``emoscope analyze``; the CLI fills it, ``analyze(**options)`` too."""

    out: str | None = None  # output folder; None writes nothing (Python API)
    format: str = "csv"  # csv | parquet | json
    every: int = 1  # analyse every N-th video frame
    fps: float | None = None  # or sample at most this many frames per second
    detector: str = "mediapipe"
    threshold: float = 0.5  # detector confidence
    min_face: int = 20  # pixels, shorter box side
    max_faces: int = 0  # per frame, most confident first; 0 = all
    model: str | None = None  # shipped name or path; None = default face model
    device: str = "cpu"
    runtime: str = "auto"  # auto | torch | onnx (models/files/loading.py: ONNX Runtime for shipped)
    batch_size: int = 64
    align: bool = True  # faces tilted 10+ degrees turned upright first (faces/face_align.py)
    smooth: int = 1  # frames; 1 = off
    smooth_method: str = "ema"  # ema | window
    annotate: bool = False
    plots: bool = True
    flush_rows: int = 2048  # rows buffered before the table file is extended
    detector_options: dict[str, object] = field(default_factory=dict)
    pose: bool = False  # yaw, pitch, roll per face from the face mesh (faces/face_mesh.py)
    landmarks: bool = False  # the mesh's 468 points as lm_x_<k>, lm_y_<k> (implies the mesh)
    # voice timeline (inference/voice.py): audio files and videos with sound
    voice: bool = True
    voice_model: str | None = None  # shipped name or path; None = default speech model
    voice_window: float = 1.0  # seconds
    voice_hop: float = 0.5  # seconds
    fusion: str = "none"  # none | late | intermediate (inference/av_fusion.py)
    face_weight: float = 0.5  # late fusion: weight of the face probabilities
    av_model: str | None = None  # intermediate fusion: an av_intermediate model file
    av_fps: float = 15.0  # intermediate fusion: face frames per second

    def validate(self) -> None:
        if self.format not in WRITERS:
            raise UserError(f"unknown format '{self.format}'; known formats: {', '.join(WRITERS)}")
        if self.format == "parquet" and importlib.util.find_spec("pyarrow") is None:
            raise UserError("--format parquet needs pyarrow, which the analysis install leaves "
                            "out; install it with: pip install 'emoscope[parquet]'")
        if self.every < 1:
            raise UserError(f"--every must be at least 1, got {self.every}")
        check_sample_fps(self.fps)  # finite, positive, bounded: sampling must move forward
        if self.smooth < 1:
            raise UserError(f"--smooth must be at least 1, got {self.smooth}")
        if self.smooth_method not in ("ema", "window"):
            raise UserError(f"unknown smoothing '{self.smooth_method}'; use ema or window")
        if self.fusion not in ("none", "late", "intermediate"):
            raise UserError(f"unknown fusion '{self.fusion}'; use none, late or intermediate")
        if self.voice_window <= 0 or self.voice_hop <= 0:
            raise UserError("--voice-window and --voice-hop must be positive")
        if self.batch_size < 1:
            raise UserError(f"batch size must be at least 1, got {self.batch_size}")


@dataclass
class InputReport:
    """What happened to one input: files written, faces found, or the one-line error."""

    path: str
    ok: bool
    faces: int = 0
    frames: int = 0
    voice_windows: int = 0  # rows of an audio file's voice timeline
    files: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class AnalysisReport:
    inputs: list[InputReport]
    table: pd.DataFrame | None = None  # all rows, when collected

    @property
    def analysed(self) -> int:
        return sum(1 for r in self.inputs if r.ok)

    @property
    def errors(self) -> list[str]:
        return [e for r in self.inputs for e in r.errors]


class Progress:
    """Progress hooks; the CLI passes a rich implementation, the library stays silent."""

    def start(self, name: str, total: int | None) -> None: ...

    def advance(self, frames: int = 1) -> None: ...

    def finish(self) -> None: ...
