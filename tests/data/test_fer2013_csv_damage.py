"""A damaged fer2013.csv is one DataFormatError naming the file (and the line where there is
one), never an IndexError, ValueError or UnicodeDecodeError."""

from __future__ import annotations

import pytest

from emoscope.data.fer2013 import read_csv_layout
from emoscope.errors import DataFormatError
from synthetic_faces import write_fer2013_csv


@pytest.fixture
def csv_path(tmp_path):
    return write_fer2013_csv(tmp_path / "fer", 1, 1, 1).root / "fer2013.csv"


def _damage(path, change) -> None:
    lines = path.read_bytes().split(b"\n")
    change(lines)
    path.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize(("change", "message"), [
    (lambda lines: lines.__setitem__(1, lines[1].replace(b" ", b"x", 1)),
     "line 2: non-numeric emotion or pixel value"),
    (lambda lines: lines.__setitem__(2, lines[2].split(b",")[0]), "line 3: 1 fields, expected 3"),
    (lambda lines: lines.__setitem__(1, b"9" + lines[1][1:]), "line 2: emotion 9 not in 0-6"),
    (lambda lines: lines.__setitem__(1, lines[1][:40] + b"\xff\xfe" + lines[1][40:]),
     "not UTF-8 text"),
])
def test_damaged_rows_are_one_line(csv_path, change, message):
    _damage(csv_path, change)
    with pytest.raises(DataFormatError) as err:
        read_csv_layout(csv_path, "train")
    assert str(err.value).startswith(f"{csv_path}: {message}")
    assert "\n" not in str(err.value)


def test_good_csv_reads(csv_path):
    assert len(read_csv_layout(csv_path, "train").labels) == 7
