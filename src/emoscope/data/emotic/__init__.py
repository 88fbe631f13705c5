"""EMOTIC: three published layouts read into one list of persons, and a three-stream dataset."""

from emoscope.data.emotic.reader import detect_layout, read_emotic
from emoscope.data.emotic.records import EmoticData, EmoticPerson, SkippedRow

__all__ = ["EmoticData", "EmoticPerson", "SkippedRow", "detect_layout", "read_emotic"]
