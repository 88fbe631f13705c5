"""A corrupted ``Annotations.mat`` that crashes scipy's MATLAB reader is one clear line naming
the file (the reader runs in a child process), not the death of the process."""

from __future__ import annotations

import pickle
import sys

import pytest

from cli_runner import run_cli
from emoscope.data.emotic import mat_file
from emoscope.data.emotic.reader import read_emotic
from emoscope.errors import DataFormatError
from emotic_fixtures import make_images, write_layout

SEGFAULT = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"


@pytest.fixture(scope="module")
def mat_root(tmp_path_factory):
    images = make_images({"train": 4, "val": 2, "test": 2}, seed=1)
    return write_layout("mat", tmp_path_factory.mktemp("emotic") / "emotic_mat", images)


@pytest.fixture
def crashing_reader(monkeypatch):
    """The child process dies of SIGSEGV, as scipy's reader does on some flipped bytes."""
    monkeypatch.setattr(mat_file, "_child_argv",
                        lambda mat_path, out_path: [sys.executable, "-c", SEGFAULT])


def test_a_good_file_reads_as_before(mat_root):
    data = read_emotic(mat_root, "train")
    assert len(data.persons) > 0 and data.layout == "mat"


def test_a_reader_crash_is_one_line_naming_the_file(mat_root, crashing_reader):
    with pytest.raises(DataFormatError) as err:
        read_emotic(mat_root, "train")
    assert str(err.value) == (f"{mat_root / 'Annotations' / 'Annotations.mat'}: the MATLAB "
                              "reader crashed (SIGSEGV); the file is probably corrupted")


def test_the_cli_survives_the_crash(mat_root, crashing_reader, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "prepare", "emotic", mat_root)
    assert code != 0
    assert "Annotations.mat: the MATLAB reader crashed (SIGSEGV)" in err
    assert "Traceback" not in err + out


def test_flipped_bytes_that_crash_scipy_are_one_line(mat_root, tmp_path, monkeypatch, capsys):
    """One flipped bit turns a string's element type (miUTF8, 16) into 272: scipy's compiled
    reader dies of SIGSEGV on it (checked in a child of the test itself)."""
    import shutil
    import subprocess

    broken = tmp_path / "broken"
    shutil.copytree(mat_root, broken)
    mat = broken / "Annotations" / "Annotations.mat"
    data = bytearray(mat.read_bytes())
    at = data.index(b"\x10\x00\x00\x00\x09\x00\x00\x00Annoyance")  # tag of the name
    data[at + 1] = 1
    mat.write_bytes(bytes(data))
    direct = subprocess.run([sys.executable, "-c",
                             "import sys, scipy.io; scipy.io.loadmat(sys.argv[1])", str(mat)],
                            capture_output=True, timeout=120)
    assert direct.returncode < 0  # the reader itself is killed by a signal
    code, out, err = run_cli(monkeypatch, capsys, "prepare", "emotic", broken)
    assert code != 0 and "Traceback" not in out + err
    assert f"{mat}: the MATLAB reader crashed (SIG" in err


def test_a_hanging_reader_is_stopped(mat_root, monkeypatch):
    monkeypatch.setattr(mat_file, "_child_argv", lambda mat_path, out_path: [
        sys.executable, "-c", "import time; time.sleep(30)"])
    with pytest.raises(DataFormatError, match="took over 1 s; the file is probably corrupted"):
        mat_file.read_mat_file(mat_root / "Annotations" / "Annotations.mat", timeout_s=1)


def test_garbage_is_a_reader_error_from_the_child(tmp_path):
    path = tmp_path / "Annotations.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file, garbage")
    with pytest.raises(DataFormatError, match=r"Annotations.mat: cannot read MATLAB file \("):
        mat_file.read_mat_file(path)


def test_only_numpy_and_scipy_types_come_back(tmp_path, monkeypatch):
    """The result travels as a pickle written by the child: nothing but arrays is accepted."""
    payload = tmp_path / "evil.pickle"

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    payload.write_bytes(pickle.dumps({"train": Evil()}))
    forged = f"import shutil, sys; shutil.copy({str(payload)!r}, sys.argv[1])"
    monkeypatch.setattr(mat_file, "_child_argv", lambda mat_path, out_path: [
        sys.executable, "-c", forged, str(out_path)])
    with pytest.raises(DataFormatError, match="builtins.print is not allowed"):
        mat_file.read_mat_file(tmp_path / "any.mat")
