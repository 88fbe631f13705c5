"""Speech emotion models on log-mel spectrograms.

``speech_cnn``: the seed's audio branch, a 1D CNN over time with the mel bands as channels.
``speech_timm``: any timm image backbone on the spectrogram as a one-channel image (ImageNet
weights, where offline ones exist, summed over RGB into the single input channel), or, with
``deltas=True``, as a three-channel image of the log-mel and its first and second time
derivatives, which keeps the backbone's RGB stem as trained.
Both take (N, n_mels, T) or (N, 1, n_mels, T) log-mel input of any length, normalise each
clip to zero mean and unit variance, apply SpecAugment while training and return
``{"logits": (N, C)}``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from emoscope.models.backbones import PretrainedMode, build_backbone
from emoscope.registry import MODELS


class SpecAugment(nn.Module):
    """Frequency and time masking (Park et al. 2019), active in training mode only.

    Masked cells take the clip's mean, which is 0 after per-clip normalisation.
    """

    def __init__(self, freq_masks: int = 2, freq_width: int = 8, time_masks: int = 2,
                 time_width: int = 20):
        super().__init__()
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width = time_masks, time_width

    def _mask(self, x: torch.Tensor, dim: int, count: int, width: int) -> torch.Tensor:
        size = x.shape[dim]
        if count <= 0 or width <= 0 or size <= 1:
            return x
        n = x.shape[0]
        widths = torch.randint(0, min(width, size) + 1, (n, count), device=x.device)
        starts = (torch.rand(n, count, device=x.device) * (size - widths + 1)).long()
        positions = torch.arange(size, device=x.device).view(1, 1, size)
        hit = (positions >= starts[..., None]) & (positions < (starts + widths)[..., None])
        hit = hit.any(1)  # (N, size)
        shape = [n] + [1] * (x.dim() - 1)
        shape[dim] = size
        return x.masked_fill(hit.view(shape), 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, F, T)
        if not self.training:
            return x
        x = self._mask(x, 2, self.freq_masks, self.freq_width)
        return self._mask(x, 3, self.time_masks, self.time_width)


def as_spectrogram_image(x: torch.Tensor) -> torch.Tensor:
    """(N, F, T) or (N, 1, F, T) -> (N, 1, F, T), each clip normalised to mean 0, std 1."""
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"expected (N, n_mels, T) or (N, 1, n_mels, T) log-mel, got "
                         f"{tuple(x.shape)}")
    x = x.float()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-3)
    return (x - mean) / std


class AudioCNN1d(nn.Module):
    """Conv1d blocks over time (mel bands as channels), then mean + max pooling over time."""

    def __init__(self, n_mels: int = 64, channels: tuple[int, ...] = (128, 128, 256, 256),
                 kernel: int = 5):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_mels
        for i, out in enumerate(channels):
            layers += [nn.Conv1d(width, out, kernel, padding=kernel // 2, bias=False),
                       nn.BatchNorm1d(out), nn.ReLU(inplace=True)]
            if i < len(channels) - 1:
                layers.append(nn.MaxPool1d(2, ceil_mode=True))
            width = out
        self.blocks = nn.Sequential(*layers)
        self.num_features = 2 * width

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:  # (N, F, T) normalised
        hidden = self.blocks(spectrogram)
        return torch.cat([hidden.mean(-1), hidden.amax(-1)], dim=1)


@MODELS.register("speech_cnn")
class SpeechCNN(nn.Module):
    """1D CNN on log-mel (the seed's audio branch) with a dropout + linear head."""

    def __init__(self, num_classes: int, n_mels: int = 64,
                 channels: tuple[int, ...] | list[int] = (128, 128, 256, 256), kernel: int = 5,
                 dropout: float = 0.3, spec_augment: bool = True, freq_width: int = 8,
                 time_width: int = 20, pretrained: str = "none", **_: object):
        super().__init__()
        self.augment = SpecAugment(freq_width=freq_width if spec_augment else 0,
                                   time_width=time_width if spec_augment else 0)
        self.backbone = AudioCNN1d(n_mels, tuple(channels), kernel)
        self.head = nn.Sequential(nn.Dropout(dropout),
                                  nn.Linear(self.backbone.num_features, num_classes))

    def features(self, spectrogram: torch.Tensor) -> torch.Tensor:
        image = self.augment(as_spectrogram_image(spectrogram))
        return self.backbone(image[:, 0])

    def forward(self, spectrogram: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.head(self.features(spectrogram))}


def _single_channel_stem(backbone: nn.Module) -> nn.Module:
    """Give the first 3-channel conv one input channel whose filters are the RGB sums (a grey
    image then gives the stem output of its 3-channel copy). The conv keeps its class, so
    TF-style "same" padding (``Conv2dSame``) is kept too."""
    for parent in backbone.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Conv2d) and child.in_channels == 3 and child.groups == 1:
                conv = copy.deepcopy(child)
                conv.in_channels = 1
                conv.weight = nn.Parameter(child.weight.detach().sum(dim=1, keepdim=True))
                setattr(parent, name, conv)
                return backbone
    raise ValueError("backbone has no 3-channel input convolution")


def time_deltas(x: torch.Tensor, width: int = 2) -> torch.Tensor:
    """Regression delta along the last axis (the formula of HTK / ``librosa.feature.delta``
    with ``2 * width + 1`` frames), edges repeated."""
    padded = torch.cat([x[..., :1].expand(*x.shape[:-1], width), x,
                        x[..., -1:].expand(*x.shape[:-1], width)], dim=-1)
    length = x.shape[-1]
    total = sum(k * (padded[..., width + k:width + k + length]
                     - padded[..., width - k:width - k + length]) for k in range(1, width + 1))
    return total / (2 * sum(k * k for k in range(1, width + 1)))


@MODELS.register("speech_timm")
class SpeechTimm(nn.Module):
    """A timm backbone on the spectrogram image, SpecAugment, linear head.

    ``deltas``: feed (log-mel, delta, delta-delta) as three channels, each normalised per clip.
    ``freq_scale``: stretch the mel axis by this factor (bilinear) before the backbone, so a
    stride-32 network keeps more than two rows of frequency resolution.
    """

    def __init__(self, num_classes: int, backbone: str = "tf_efficientnet_lite0",
                 pretrained: PretrainedMode = "none", dropout: float = 0.3,
                 spec_augment: bool = True, freq_width: int = 8, time_width: int = 20,
                 n_mels: int = 64, deltas: bool = False, freq_scale: float = 1.0,
                 **_: object):
        super().__init__()
        self.augment = SpecAugment(freq_width=freq_width if spec_augment else 0,
                                   time_width=time_width if spec_augment else 0)
        self.deltas, self.freq_scale = bool(deltas), float(freq_scale)
        if self.freq_scale <= 0:
            raise ValueError(f"freq_scale must be positive, got {freq_scale}")
        if pretrained == "none":
            self.backbone = build_backbone(backbone, pretrained="none",
                                           in_chans=3 if self.deltas else 1)
        elif self.deltas:
            self.backbone = build_backbone(backbone, pretrained, 3)
        else:  # 3-channel ImageNet weights, then one input channel with the summed filters
            self.backbone = _single_channel_stem(build_backbone(backbone, pretrained, 3))
        features = getattr(self.backbone, "head_hidden_size", None) or self.backbone.num_features
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(features, num_classes))

    def image(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """The backbone's input: (N, 1 or 3, F * freq_scale, T)."""
        image = self.augment(as_spectrogram_image(spectrogram))
        if self.deltas:
            first = time_deltas(image)
            second = time_deltas(first)
            image = torch.cat([image, as_spectrogram_image(first),
                               as_spectrogram_image(second)], dim=1)
        if self.freq_scale != 1.0:
            rows = max(1, round(image.shape[2] * self.freq_scale))
            image = torch.nn.functional.interpolate(image, size=(rows, image.shape[3]),
                                                    mode="bilinear", align_corners=False)
        return image

    def features(self, spectrogram: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.image(spectrogram))

    def forward(self, spectrogram: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.head(self.features(spectrogram))}
