"""Read a MATLAB ``.mat`` file in a short-lived child process.

scipy's MATLAB reader is compiled code: some corrupted files (flipped bytes, not truncation)
crash it with a segmentation fault, which would take the whole process down without a word.
The child reads the file and hands the result back through a temporary pickle that only
numpy and scipy.io types may appear in; a crash, a hang or a reader error become one
``DataFormatError`` naming the file.

``python -m emoscope.data.emotic.mat_file FILE.mat OUT.pickle`` is the child's side.
"""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from emoscope.errors import DataFormatError

READ_TIMEOUT_S = 600.0  # the full EMOTIC release reads in seconds; a hang is a broken file
_ALLOWED_MODULES = ("numpy", "scipy.io")
_ALLOWED_BUILTINS = {"complex", "slice", "frozenset", "set", "bytearray"}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuses every global but numpy's and scipy.io's (arrays, dtypes, MATLAB structs)."""

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] == "numpy" or module.startswith(_ALLOWED_MODULES[1]):
            return super().find_class(module, name)
        if module == "builtins" and name in _ALLOWED_BUILTINS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed")


def _child_argv(mat_path: Path, out_path: Path) -> list[str]:
    return [sys.executable, "-m", "emoscope.data.emotic.mat_file", str(mat_path), str(out_path)]


def _crash_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the MATLAB reader crashed ({name}); the file is probably corrupted"
    return f"the MATLAB reader failed (exit status {returncode})"


def read_mat_file(mat_path: str | Path, timeout_s: float = READ_TIMEOUT_S) -> dict[str, Any]:
    """``scipy.io.loadmat(mat_path)``, run in a child process so a crash cannot end this one."""
    mat_path = Path(mat_path)
    with tempfile.TemporaryDirectory(prefix="emoscope-mat-") as tmp:
        out_path = Path(tmp) / "mat.pickle"
        try:
            done = subprocess.run(_child_argv(mat_path, out_path), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise DataFormatError(mat_path, f"reading the MATLAB file took over {timeout_s:g} "
                                  "s; the file is probably corrupted") from None
        problem = done.stderr.decode("utf-8", "replace").strip().splitlines()
        if done.returncode == 2 and problem:  # the child's own one-line reason
            raise DataFormatError(mat_path, problem[-1])
        if done.returncode != 0 or not out_path.is_file():
            raise DataFormatError(mat_path, _crash_reason(done.returncode))
        with out_path.open("rb") as stream:
            try:
                return _NumpyOnlyUnpickler(stream).load()
            except (pickle.UnpicklingError, EOFError, AttributeError) as err:
                raise DataFormatError(mat_path, f"cannot read MATLAB file ({err})") from None


def _child_main(argv: list[str]) -> int:
    from scipy.io import loadmat

    mat_path, out_path = argv
    try:
        mat = loadmat(mat_path)
    except Exception as err:  # scipy raises ValueError, TypeError, OSError, MatReadError ...
        detail = str(err).replace("\n", " ")[:120]
        print(f"cannot read MATLAB file ({err.__class__.__name__}: {detail})", file=sys.stderr)
        return 2
    with open(out_path, "wb") as stream:
        pickle.dump(mat, stream, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
