"""Windows of a video for the intermediate audio-visual model: the largest face of frames
sampled at ``av_fps`` inside each window (grey, square, in [0, 1]) and the window's log-mel."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from emoscope.data.audio import AudioFrontEnd, fit_frames, load_audio, log_mel
from emoscope.errors import UserError

if TYPE_CHECKING:
    from emoscope.inference.options import AnalyzeOptions

log = logging.getLogger(__name__)


def face_crop(rgb: np.ndarray, box, size: int) -> np.ndarray:
    """(size, size) float32 grey crop of ``box`` in [0, 1]."""
    from PIL import Image

    x1, y1, x2, y2 = (int(round(v)) for v in (box.x1, box.y1, box.x2, box.y2))
    crop = Image.fromarray(rgb[max(y1, 0):max(y2, y1 + 1), max(x1, 0):max(x2, x1 + 1)])
    grey = crop.convert("L").resize((size, size), Image.BILINEAR)
    return np.asarray(grey, dtype=np.float32) / 255.0


class AVWindowReader:
    """The audio-visual model of ``options.av_model`` with the detector of ``options``."""

    def __init__(self, options: AnalyzeOptions):
        from emoscope.faces.detectors import build_detector
        from emoscope.models.files.checkpoint import load_model

        self.network, self.card = load_model(options.av_model, options.device)
        if self.card.architecture != "av_intermediate" or "audio" not in self.card.extra:
            raise UserError(f"{options.av_model}: not an audio-visual model (architecture "
                            f"{self.card.architecture})")
        self.front = AudioFrontEnd.from_dict(self.card.extra["audio"])
        self.face_size = int(self.card.architecture_kwargs.get("face_size", 48))
        self.labels = list(self.card.label_space.labels)
        self.fps = options.av_fps
        self.window_s = options.voice_window
        self.device = options.device
        self.detector = build_detector(options.detector, threshold=options.threshold,
                                       min_face=options.min_face, max_faces=1,
                                       **options.detector_options)

    def faces(self, path: Path) -> tuple[np.ndarray, list[np.ndarray | None]]:
        """Times and the largest face crop (or None) of frames sampled at ``fps``."""
        from emoscope.data.video import VideoReader

        times, crops = [], []
        for frame in VideoReader(path, fps=self.fps):
            boxes = self.detector.detect(frame.rgb)
            times.append(frame.time_s)
            crops.append(face_crop(frame.rgb, boxes[0], self.face_size) if boxes else None)
        return np.asarray(times, dtype=float), crops

    def window_inputs(self, times: np.ndarray, crops: list[np.ndarray | None],
                      start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(T, 1, S, S) faces and (T,) mask for a window; T = window seconds * fps."""
        count = max(1, int(round(self.window_s * self.fps)))
        faces = np.zeros((count, 1, self.face_size, self.face_size), dtype=np.float32)
        mask = np.zeros(count, dtype=bool)
        inside = [i for i, t in enumerate(times) if start_s <= t < end_s][:count]
        for slot, i in enumerate(inside):
            if crops[i] is not None:
                faces[slot, 0], mask[slot] = crops[i], True
        return faces, mask


@torch.inference_mode()
def predict_windows(reader: AVWindowReader, path: Path,
                    voice_table: pd.DataFrame) -> pd.DataFrame:
    """One row per voice window: the audio-visual model's probabilities."""
    wave, rate = load_audio(path, reader.front.sample_rate)
    times, crops = reader.faces(path)
    frames = reader.front.frames(reader.window_s)
    whole, hop = log_mel(wave, reader.front), reader.front.hop_length  # sliced per window
    rows = []
    network = reader.network.to(reader.device).eval()
    for _, window in voice_table.iterrows():
        faces, mask = reader.window_inputs(times, crops, window["start_s"], window["end_s"])
        first = int(round(window["start_s"] * rate)) // hop
        spec = fit_frames(whole[:, first:first + frames], frames, offset=0)
        logits = network(torch.from_numpy(faces)[None].to(reader.device),
                         torch.from_numpy(spec)[None].to(reader.device),
                         torch.from_numpy(mask)[None].to(reader.device))["logits"]
        p = logits.float().softmax(1)[0].cpu().numpy()
        rows.append({"source": window["source"], "window": int(window["window"]),
                     "start_s": window["start_s"], "end_s": window["end_s"],
                     "faces": int(mask.sum()),
                     **{f"p_{label}": float(v) for label, v in zip(reader.labels, p,
                                                                    strict=True)},
                     "top_label": reader.labels[int(p.argmax())]})
    reader.detector.close()
    columns = ["source", "window", "start_s", "end_s", "faces",
               *(f"p_{label}" for label in reader.labels), "top_label"]
    return pd.DataFrame(rows, columns=columns)
