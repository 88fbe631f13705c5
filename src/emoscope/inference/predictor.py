"""Face crops -> batched model inference, with preprocessing taken only from the model card."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emoscope.errors import UserError
from emoscope.faces.detectors.base import FaceBox
from emoscope.faces.face_align import FER2013_TEMPLATE, aligned_face
from emoscope.models.files.checkpoint import ModelCard
from emoscope.models.files.onnx_runtime import OnnxModel, sigmoid, softmax

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# Context added around a detector box before resizing, as a fraction of the box side, unless
# the model card says otherwise (``extra.face_margin``): detector boxes are tighter than the
# aligned faces of FER-style training sets.
DEFAULT_FACE_MARGIN = 0.1


def crop_side(box: FaceBox, margin: float) -> float:
    """Side in pixels of the square crop around ``box`` with ``margin`` on every side."""
    return max(box.width, box.height, 2.0) * (1.0 + 2.0 * margin)


def face_crop(rgb: np.ndarray, box: FaceBox, margin: float = DEFAULT_FACE_MARGIN) -> np.ndarray:
    """A square crop centred on ``box`` with ``margin``; borders beyond the image replicate."""
    import cv2

    cx, cy = box.center
    side = crop_side(box, margin)
    x1, y1 = int(round(cx - side / 2)), int(round(cy - side / 2))
    size = max(int(round(side)), 2)
    x2, y2 = x1 + size, y1 + size
    height, width = rgb.shape[:2]
    pads = (max(0, -y1), max(0, y2 - height), max(0, -x1), max(0, x2 - width))
    crop = rgb[max(0, y1):min(height, y2), max(0, x1):min(width, x2)]
    if any(pads) and crop.size:
        crop = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_REPLICATE)
    if crop.size == 0:
        crop = np.zeros((size, size, 3), dtype=np.uint8)
    return crop


_INTERPOLATION = {"bilinear": 1, "bicubic": 2, "nearest": 0, "area": 3, "lanczos": 4}


def prepare_crop(crop: np.ndarray, card: ModelCard) -> np.ndarray:
    """Resize to the card's input size and apply its grayscale rule -> (H, W, C) uint8.

    A card with ``extra.native_resolution`` (a model trained on low-resolution faces that were
    upsampled, like FER2013's 48x48) first gets the crop shrunk to that resolution, so a sharp
    camera crop looks like the training faces.
    """
    import cv2

    channels, height, width = card.preprocessing.input_size
    native = int(card.extra.get("native_resolution", 0) or 0)
    if 0 < native < min(crop.shape[:2]):
        crop = cv2.resize(crop, (native, native), interpolation=cv2.INTER_AREA)
    shrinking = crop.shape[0] > height or crop.shape[1] > width
    method = cv2.INTER_AREA if shrinking else _INTERPOLATION.get(
        card.preprocessing.interpolation, cv2.INTER_LINEAR)
    if native:  # training upsampled its faces bilinearly
        method = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    resized = cv2.resize(crop, (width, height), interpolation=method)
    if card.grayscale or channels == 1:
        grey = cv2.cvtColor(resized, cv2.COLOR_RGB2GRAY)
        return np.repeat(grey[..., None], channels, axis=2)
    return resized


@dataclass
class Predictions:
    """Model outputs for a batch of faces: class probabilities, optional valence/arousal and
    action-unit probabilities (multi-task models; units named by ``card.extra.au_labels``)."""

    probabilities: np.ndarray  # (N, C)
    valence_arousal: np.ndarray | None = None  # (N, 2) in [-1, 1]
    action_units: np.ndarray | None = None  # (N, K) in [0, 1]


class FacePredictor:
    """Runs a face-expression model on crops in batches: a PyTorch module (CPU or GPU,
    channels_last) or an ``OnnxModel`` (ONNX Runtime, no torch needed)."""

    def __init__(self, model: Any, card: ModelCard, device: str = "cpu",
                 batch_size: int = 64, channels_last: bool = True, align: bool = False):
        self.card = card
        self.on_onnx = isinstance(model, OnnxModel)
        self.device = device if self.on_onnx else resolve_device(device)
        self.model = model if self.on_onnx else model.to(self.device).eval()
        self.channels_last = channels_last and not self.on_onnx
        if self.channels_last:
            import torch

            self.model = self.model.to(memory_format=torch.channels_last)
        self.batch_size = max(1, batch_size)
        prep = card.preprocessing
        shape = (1, len(prep.mean), 1, 1)
        self._mean = np.asarray(prep.mean, np.float32).reshape(shape) * np.float32(255)
        self._std = np.asarray(prep.std, np.float32).reshape(shape) * np.float32(255)
        self.margin = float(card.extra.get("face_margin", DEFAULT_FACE_MARGIN))
        self.align = align  # tilted faces turned upright first (faces/face_align.py)
        self.template = card.extra.get("face_template", FER2013_TEMPLATE)
        self.labels = list(card.label_space.labels)
        self.has_valence_arousal = "valence_arousal" in card.outputs
        self.au_labels = (list(card.extra.get("au_labels", []))
                          if "action_units" in card.outputs else [])
        self.has_action_units = bool(self.au_labels)
        # softmax(logits / T): a temperature fitted on held-out faces (study/calibrate.py)
        self.temperature = float(card.extra.get("temperature", 1.0) or 1.0)

    @classmethod
    def from_name(cls, name_or_path: str | Path | None, device: str = "cpu",
                  runtime: str = "auto", **options: object) -> FacePredictor:
        """A shipped model by name (None: the default face model) or a file path, on the
        runtime ``models/files/loading.py`` chooses (``auto``: ONNX Runtime for shipped models)."""
        from emoscope.models.files.loading import load_for_inference

        onnx_device = "cuda" if str(device).startswith("cuda") else "cpu"
        loaded = load_for_inference(name_or_path, "face_expression", runtime,
                                    device if runtime == "torch" else onnx_device)
        return cls(loaded.network, loaded.card, device=device, **options)

    def crops(self, rgb: np.ndarray, boxes: Sequence[FaceBox]) -> list[np.ndarray]:
        """Model-ready (H, W, C) uint8 crops of ``boxes`` in ``rgb``."""
        crops = []
        for box in boxes:
            crop = None
            if self.align:
                size = max(int(round(crop_side(box, self.margin))), 2)
                crop = aligned_face(rgb, box, size, self.template)
            if crop is None:
                crop = face_crop(rgb, box, self.margin)
            crops.append(prepare_crop(crop, self.card))
        return crops

    def _to_array(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """(N, C, H, W) float32, normalised as the card says."""
        batch = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32)  # from (N, H, W, C)
        return (batch - self._mean) / self._std

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Named outputs as float32 arrays: probabilities of the expression (``logits``),
        valence/arousal and action units where the model has them."""
        if self.on_onnx:
            out = self.model.run(batch)
        else:
            out = self._run_torch(batch)
        multi_label = self.card.label_space.kind == "multi_label"
        logits = out.get("logits", next(iter(out.values())))
        result = {"probabilities": sigmoid(logits) if multi_label else
                  softmax(np.asarray(logits, np.float32) / np.float32(self.temperature))}
        if self.has_valence_arousal and "valence_arousal" in out:
            result["valence_arousal"] = np.asarray(out["valence_arousal"], np.float32)
        if self.has_action_units and "action_units" in out:
            result["action_units"] = sigmoid(out["action_units"])
        return result

    def _run_torch(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        tensor = torch.from_numpy(batch).to(self.device)
        if self.channels_last:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), _threads_for_batch(len(batch), self.device):
            out = self.model(tensor)
        out = out if isinstance(out, dict) else {"logits": out}
        return {name: value.float().cpu().numpy() for name, value in out.items()}

    def predict(self, crops: Sequence[np.ndarray]) -> Predictions:
        """Probabilities (softmax, or sigmoid for multi-label spaces) for prepared crops."""
        num_classes = len(self.labels)
        if len(crops) == 0:
            empty_va = np.zeros((0, 2), np.float32) if self.has_valence_arousal else None
            empty_au = (np.zeros((0, len(self.au_labels)), np.float32)
                        if self.has_action_units else None)
            return Predictions(np.zeros((0, num_classes), np.float32), empty_va, empty_au)
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(crops), self.batch_size):
            chunk = self._to_array(crops[start:start + self.batch_size])
            for name, value in self._run(chunk).items():
                parts.setdefault(name, []).append(value)
        joined = {name: np.concatenate(values) for name, values in parts.items()}
        return Predictions(joined["probabilities"], joined.get("valence_arousal"),
                           joined.get("action_units"))


# With passive OpenMP waiting (set by ``import emoscope``) a handful of faces runs about 3x
# faster on one thread than on two: waking the second thread costs more than it saves
# (benchmarks/README.md). Switching the thread count per call costs microseconds.
SMALL_BATCH = 4


@contextmanager
def _threads_for_batch(size: int, device: torch.device) -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()
    if device.type != "cpu" or size > SMALL_BATCH or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:1``, ``mps`` or ``auto``; a clear error when unavailable."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise UserError(f"unknown device '{device}'; use cpu, cuda, cuda:N, mps or auto") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device '{device}' requested but CUDA is not available; use --device cpu")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device '{device}' requested but MPS is not available; use --device cpu")
    return resolved
