"""Settings of ``emoscope serve``: one typed dataclass the CLI fills and the app reads."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from emoscope.errors import UserError


@dataclass
class ServeSettings:
    """Everything the service is started with; requests cannot change these."""

    host: str = "127.0.0.1"  # loopback by default: exposing the service is a deliberate choice
    port: int = 8000
    model: str | None = None  # shipped name or model file; None = default face model
    detector: str = "mediapipe"
    device: str = "cpu"
    runtime: str = "auto"  # auto | torch | onnx, as ``emoscope analyze --runtime``
    threshold: float = 0.5
    min_face: int = 20
    max_faces: int = 0
    batch_size: int = 64
    align: bool = True  # tilted faces turned upright before classification, as in analyze
    pose: bool = False  # every response carries yaw, pitch, roll per face
    detector_options: dict[str, object] = field(default_factory=dict)
    max_upload_mb: float = 50.0  # enforced while the upload streams in
    timeout_s: float = 60.0  # per request, waiting for a free analyser included
    allow_path: str | None = None  # folder whose files may be named by ?path=; None: off
    workers: int = 1  # analysers (detector + model) loaded at start; requests share them
    keep_results: int = 64  # annotated images and plots kept for GET /results, oldest dropped
    # voice timeline of audio uploads and videos with sound, as ``emoscope analyze`` makes it
    voice_model: str | None = None  # shipped name or path; None = default speech model
    voice_window_s: float = 1.0
    voice_hop_s: float = 0.5
    # seconds of sound analysed per file (the rest is left out with a warning): 50 MB of Opus
    # holds about 14 hours, and the voice pass costs time in proportion to playing time
    max_audio_s: float = 600.0

    @property
    def voice_enabled(self) -> bool:
        """False when started with ``--voice-model none``."""
        return self.voice_model != "none"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def validate(self) -> None:
        for flag, value in (("--max-upload-mb", self.max_upload_mb), ("--timeout", self.timeout_s),
                            ("--voice-window", self.voice_window_s),
                            ("--voice-hop", self.voice_hop_s),
                            ("--max-audio-minutes", self.max_audio_s / 60)):
            if not math.isfinite(value):
                raise UserError(f"{flag} must be a finite number, got {value:g}")
        if self.max_audio_s <= 0:
            raise UserError(f"--max-audio-minutes must be positive, got {self.max_audio_s / 60:g}")
        if not 0 < self.port < 65536:
            raise UserError(f"--port must be in 1..65535, got {self.port}")
        if self.max_upload_mb <= 0:
            raise UserError(f"--max-upload-mb must be positive, got {self.max_upload_mb}")
        if self.timeout_s <= 0:
            raise UserError(f"--timeout must be positive, got {self.timeout_s}")
        if self.workers < 1:
            raise UserError(f"--workers must be at least 1, got {self.workers}")
        if self.keep_results < 1:
            raise UserError(f"--keep-results must be at least 1, got {self.keep_results}")
        if self.voice_window_s <= 0:
            raise UserError(f"--voice-window must be positive, got {self.voice_window_s:g}")
        if self.voice_hop_s <= 0:
            raise UserError(f"--voice-hop must be positive, got {self.voice_hop_s:g}")
        if self.allow_path is not None and not Path(self.allow_path).is_dir():
            raise UserError(f"{self.allow_path}: --allow-path is not an existing folder")
