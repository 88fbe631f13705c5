"""Faces in images, at the data level so that dataset preparation and analysis share them: the
face detectors (``DETECTORS`` registry), the MediaPipe face mesh and landmark alignment."""
