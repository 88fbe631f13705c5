"""Face detectors behind one interface: ``detect(rgb) -> list[FaceBox]``, built by name."""

from emoscope.faces.detectors.base import FaceBox, FaceDetector, build_detector

__all__ = ["FaceBox", "FaceDetector", "build_detector"]
