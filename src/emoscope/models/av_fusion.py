"""Intermediate audio-visual fusion (the seed's design): a 2D CNN on each face frame of a
window (about 15 per second), averaged over the frames, and a 1D CNN on the log-mel of the same
window, concatenated into an MLP head."""

from __future__ import annotations

import torch
from torch import nn

from emoscope.models.speech import AudioCNN1d, as_spectrogram_image
from emoscope.registry import MODELS


class FaceFrameCNN(nn.Module):
    """Conv-BN-ReLU-pool blocks on one grey face, global average pooled."""

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        layers: list[nn.Module] = []
        width = 1
        for out in channels:
            layers += [nn.Conv2d(width, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            width = out
        self.blocks = nn.Sequential(*layers)
        self.num_features = width

    def forward(self, faces: torch.Tensor) -> torch.Tensor:  # (N, 1, H, W) in [0, 1]
        return self.blocks(faces).mean(dim=(2, 3))


@MODELS.register("av_intermediate")
class AudioVisualIntermediate(nn.Module):
    """``forward(faces, spectrogram)``: faces (N, T, 1, H, W) grey in [0, 1] with an optional
    frame mask (N, T) (False: no face in that frame), spectrogram (N, n_mels, frames).
    Returns ``{"logits": (N, C)}``; a window without any face uses zeros for the face part."""

    def __init__(self, num_classes: int, n_mels: int = 64, face_size: int = 48,
                 face_channels: tuple[int, ...] | list[int] = (32, 64, 128),
                 audio_channels: tuple[int, ...] | list[int] = (128, 128, 256),
                 hidden: int = 256, dropout: float = 0.3, pretrained: str = "none",
                 **_: object):
        super().__init__()
        self.face_size = face_size
        self.face = FaceFrameCNN(tuple(face_channels))
        self.audio = AudioCNN1d(n_mels, tuple(audio_channels))
        width = self.face.num_features + self.audio.num_features
        self.head = nn.Sequential(nn.Linear(width, hidden), nn.BatchNorm1d(hidden),
                                  nn.ReLU(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(hidden, num_classes))

    def forward(self, faces: torch.Tensor, spectrogram: torch.Tensor,
                face_mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        n, t = faces.shape[:2]
        per_frame = self.face(faces.reshape(n * t, *faces.shape[2:]).float()).view(n, t, -1)
        if face_mask is None:
            face_mask = torch.ones(n, t, dtype=torch.bool, device=faces.device)
        weights = face_mask.float().unsqueeze(-1)
        face_features = (per_frame * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        audio_features = self.audio(as_spectrogram_image(spectrogram)[:, 0])
        return {"logits": self.head(torch.cat([face_features, audio_features], dim=1))}
