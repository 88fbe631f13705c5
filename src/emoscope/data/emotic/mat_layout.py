"""The original release: ``Annotations/Annotations.mat`` + ``emotic/<folder>/<filename>``.

``scipy.io.loadmat`` returns each split as a (1, N) struct array of images; an image has
``filename``, ``folder``, ``image_size`` (struct ``n_row``/``n_col``, or rows, cols),
``original_database`` and a (1, P) struct array ``person`` with ``body_bbox``,
``annotations_categories`` (struct with a ``categories`` cell), ``annotations_continuous``
(struct ``valence``/``arousal``/``dominance``), ``gender``, ``age``; val/test persons also carry
``combined_categories`` (cell of names) and ``combined_continuous``, which are used there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emoscope.data.emotic.mat_file import read_mat_file
from emoscope.data.emotic.records import (
    EmoticData,
    EmoticPerson,
    RowProblem,
    SkippedRow,
    check_vad,
    clip_box,
    multi_hot,
    positive_int,
)
from emoscope.errors import DataFormatError


def find_annotations(root: Path) -> Path | None:
    for candidate in (root / "Annotations" / "Annotations.mat", root / "Annotations.mat",
                      root / "annotations" / "Annotations.mat"):
        if candidate.is_file():
            return candidate
    return None


def _unwrap(value: object) -> object:
    """Strip the size-1 object and struct wrappers loadmat puts around every value."""
    while isinstance(value, np.ndarray) and value.size == 1 and (
        value.dtype == object or value.dtype.names is not None
    ):
        value = value.reshape(-1)[0]
    return value


def _field(struct: object, name: str) -> object:
    struct = _unwrap(struct)
    names = getattr(getattr(struct, "dtype", None), "names", None) or ()
    if name not in names:
        raise KeyError(name)
    return struct[name]


def _text(value: object) -> str:
    value = _unwrap(value)
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return ""
        value = value.reshape(-1)[0]
    return str(value).strip()


def _numbers(value: object) -> list[float]:
    value = _unwrap(value)
    try:
        return np.asarray(value, dtype=np.float64).reshape(-1).tolist()
    except (TypeError, ValueError):
        raise RowProblem(f"non-numeric value {value!r}") from None


def _names(value: object) -> list[str]:
    """Category names from a cell array, a struct with a ``categories`` cell, or a string."""
    value = _unwrap(value)
    names = getattr(getattr(value, "dtype", None), "names", None)
    if names and "categories" in names:
        if isinstance(value, np.ndarray):  # several annotators: the union of their labels
            merged = [n for entry in value.reshape(-1) for n in _names(entry["categories"])]
            return list(dict.fromkeys(merged))
        value = _unwrap(value["categories"])
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "U":
            return [str(v).strip() for v in value.reshape(-1) if str(v).strip()]
        return [_text(v) for v in value.reshape(-1) if _text(v)]
    return []


def _image_size(value: object) -> tuple[int, int]:
    """(width, height) from a struct n_row/n_col or a (rows, cols) pair."""
    value = _unwrap(value)
    names = getattr(getattr(value, "dtype", None), "names", None)
    if names and "n_row" in names and "n_col" in names:
        rows, cols = _numbers(value["n_row"])[0], _numbers(value["n_col"])[0]
    else:
        numbers = _numbers(value)
        if len(numbers) < 2:
            raise RowProblem(f"bad image size {numbers}")
        rows, cols = numbers[:2]
    return positive_int(cols, "image width"), positive_int(rows, "image height")


def _vad(struct: object) -> np.ndarray:
    struct = _unwrap(struct)
    try:
        values = [_numbers(struct[name]) for name in ("valence", "arousal", "dominance")]
    except (KeyError, ValueError, IndexError, TypeError):
        raise RowProblem("missing continuous labels") from None
    return check_vad([v[0] if v else float("nan") for v in values])


def _labels(person: object, split: str) -> tuple[np.ndarray, np.ndarray]:
    if split == "train":
        names = _names(_field(person, "annotations_categories"))
        continuous = _field(person, "annotations_continuous")
    else:
        names = _names(_field(person, "combined_categories"))
        continuous = _field(person, "combined_continuous")
    return multi_hot(names), _vad(continuous)


def _image_dir(root: Path) -> Path:
    return root / "emotic" if (root / "emotic").is_dir() else root


def _read_split(entries: np.ndarray, split: str, root: Path, mat_path: Path,
                data: EmoticData) -> None:
    image_dir = _image_dir(root)
    for i, entry in enumerate(entries.reshape(-1)):
        try:
            filename = _text(_field(entry, "filename"))
            folder = _text(_field(entry, "folder"))
            persons = _unwrap(_field(entry, "person"))
            size_value = _field(entry, "image_size")
        except KeyError as err:
            raise DataFormatError(mat_path, f"{split}[{i}] has no field {err}") from None
        image_path = image_dir / folder / filename
        where = f"{split}[{i}] {folder}/{filename}"
        try:
            width, height = _image_size(size_value)
            if not image_path.is_file():
                raise RowProblem(f"missing image file: {image_path}")
        except RowProblem as problem:
            data.skipped.append(SkippedRow(mat_path.name, where, str(problem)))
            continue
        persons = np.atleast_1d(persons).reshape(-1) if isinstance(persons, np.ndarray) \
            else [persons]
        for j, person in enumerate(persons):
            try:
                box = clip_box(_numbers(_field(person, "body_bbox")), width, height)
                categories, vad = _labels(person, split)
            except KeyError as err:
                problem = RowProblem(f"person has no field {err}")
                data.skipped.append(SkippedRow(mat_path.name, f"{where} person {j}", str(problem)))
                continue
            except RowProblem as problem:
                data.skipped.append(SkippedRow(mat_path.name, f"{where} person {j}", str(problem)))
                continue
            data.persons.append(EmoticPerson(
                key=f"{split}/{folder}/{filename}#{j}", split=split, image_path=image_path,
                width=width, height=height, body_box=box, categories=categories, vad=vad,
                gender=_text(_field(person, "gender")) if _has(person, "gender") else "",
                age=_text(_field(person, "age")) if _has(person, "age") else "",
            ))


def _has(struct: object, name: str) -> bool:
    return name in (getattr(getattr(_unwrap(struct), "dtype", None), "names", None) or ())


def read_mat_layout(root: Path, splits: tuple[str, ...]) -> EmoticData:
    """Persons of ``splits`` from ``Annotations.mat`` (read in a child process: a corrupted
    file can crash the MATLAB reader); rows that cannot be used are skipped."""
    mat_path = find_annotations(root)
    if mat_path is None:
        raise DataFormatError(root / "Annotations" / "Annotations.mat", "file not found")
    mat = read_mat_file(mat_path)
    data = EmoticData([], layout="mat", root=root)
    for split in splits:
        if split not in mat:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise DataFormatError(mat_path, f"no struct '{split}' (found: {', '.join(found)})")
        entries = mat[split]
        if not isinstance(entries, np.ndarray) or entries.dtype.names is None:
            raise DataFormatError(mat_path, f"'{split}' is not a struct array")
        _read_split(entries, split, root, mat_path, data)
    return data
