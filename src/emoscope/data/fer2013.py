"""FER2013 in both published layouts, and FER+ vote labels on the same faces.

Folder layout (Kaggle): ``{train,test}/<emotion>/<Usage>_<id>.jpg`` with lower-case emotions.
CSV layout (original): ``fer2013.csv`` with columns ``emotion,pixels,Usage``; emotion 0-6 =
Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral; ``pixels`` = 2304 grey values.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from emoscope.data.faces import FaceArrays, cache_key, load_cache, save_cache
from emoscope.errors import DataFormatError, UserError
from emoscope.labels import FER2013_LABELS, FERPLUS_LABELS, label_map
from emoscope.registry import DATASETS

log = logging.getLogger(__name__)

FOLDER_SPLITS = {"train": ("train",), "test": ("test",), "all": ("train", "test")}
CSV_SPLITS = {
    "train": ("Training",),
    "test": ("PublicTest", "PrivateTest"),
    "publictest": ("PublicTest",),
    "privatetest": ("PrivateTest",),
    "val": ("PublicTest",),
    "all": ("Training", "PublicTest", "PrivateTest"),
}
_FERPLUS_VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust",
                         "fear", "contempt")

# (8 FER+ classes, 7 FER2013 classes) by canonical name; contempt's row is zero.
_FERPLUS_TO_FER2013 = label_map(FERPLUS_LABELS.labels, FER2013_LABELS.labels)

def _normalise(name: str) -> str:
    return name.strip().lower().replace(" ", "")


def find_csv(root: Path) -> Path | None:
    if root.is_file() and root.suffix.lower() == ".csv":
        return root
    candidate = root / "fer2013.csv"
    return candidate if candidate.is_file() else None


def read_folder_layout(root: Path, split: str, image_size: int = 48) -> FaceArrays:
    """Read every image under ``root/<split>/<emotion>/``; a folder split of 'test' is all of it."""
    if split.lower() not in FOLDER_SPLITS:
        raise UserError(f"{root}: unknown split '{split}' for the folder layout; "
                        f"use one of {', '.join(FOLDER_SPLITS)}")
    images, labels, sources = [], [], []
    for sub in FOLDER_SPLITS[split.lower()]:
        split_dir = root / sub
        if not split_dir.is_dir():
            raise DataFormatError(split_dir, "split folder not found (expected <root>/"
                                  f"{sub}/<emotion>/*.jpg)")
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            name = class_dir.name.lower()
            if name not in FER2013_LABELS.labels:
                raise DataFormatError(class_dir, f"unknown emotion folder; expected one of "
                                      f"{', '.join(FER2013_LABELS.labels)}")
            for path in sorted(class_dir.iterdir()):
                if path.suffix.lower() not in (".jpg", ".jpeg", ".png", ".bmp"):
                    continue
                images.append(_read_grey(path, image_size))
                labels.append(FER2013_LABELS.index(name))
                sources.append(str(path.relative_to(root)))
    if not images:
        raise DataFormatError(root, f"no images found for split '{split}'")
    return FaceArrays(np.stack(images), np.asarray(labels, np.int64), FER2013_LABELS, sources)


def _read_grey(path: Path, size: int) -> np.ndarray:
    try:
        with Image.open(path) as img:
            grey = img.convert("L")
            if grey.size != (size, size):
                grey = grey.resize((size, size), Image.BILINEAR)
            return np.asarray(grey, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise DataFormatError(path, f"cannot read image ({err.__class__.__name__})") from None


def read_csv_layout(csv_path: Path, split: str) -> FaceArrays:
    """Read ``fer2013.csv`` rows whose Usage belongs to ``split``."""
    usages = CSV_SPLITS.get(split.lower())
    if usages is None:
        raise UserError(f"{csv_path}: unknown split '{split}'; use one of {', '.join(CSV_SPLITS)}")
    images, labels, sources = [], [], []
    try:
        with open(csv_path, newline="", encoding="utf-8") as handle:
            for line, emotion, pixels in _csv_rows(csv.reader(handle), csv_path, usages):
                images.append(np.clip(pixels, 0, 255).astype(np.uint8).reshape(48, 48))
                labels.append(emotion)
                sources.append(f"{csv_path.name}:{line}")
    except UnicodeDecodeError as err:
        raise DataFormatError(csv_path, f"not UTF-8 text (byte {err.start})") from None
    except csv.Error as err:
        raise DataFormatError(csv_path, f"not a readable CSV ({err})") from None
    if not images:
        raise DataFormatError(csv_path, f"no rows with Usage in {usages}")
    return FaceArrays(np.stack(images), np.asarray(labels, np.int64), FER2013_LABELS, sources)


def _csv_rows(reader, csv_path: Path, usages) -> Iterator[tuple[int, int, np.ndarray]]:
    """(line, emotion, 2304 grey values) of the rows of ``usages``; DataFormatError naming
    the line for a row that is not one."""
    header = next(reader, None)
    if header is None:
        raise DataFormatError(csv_path, "empty file")
    columns = {_normalise(c): i for i, c in enumerate(header)}
    for needed in ("emotion", "pixels", "usage"):
        if needed not in columns:
            raise DataFormatError(csv_path, f"missing column '{needed}' (have {header})")
    e_col, p_col, u_col = columns["emotion"], columns["pixels"], columns["usage"]
    for line, row in enumerate(reader, start=2):
        if len(row) <= max(e_col, p_col, u_col):
            raise DataFormatError(csv_path, f"line {line}: {len(row)} fields, expected "
                                  f"{len(header)}")
        if row[u_col].strip() not in usages:
            continue
        try:
            pixels = np.array(row[p_col].split(), dtype=np.float32)
            emotion = int(row[e_col])
        except ValueError:
            raise DataFormatError(csv_path, f"line {line}: non-numeric emotion or pixel "
                                  "value") from None
        if pixels.size != 48 * 48 or not np.isfinite(pixels).all():
            raise DataFormatError(csv_path, f"line {line}: expected 2304 grey values, "
                                  f"got {pixels.size}")
        if not 0 <= emotion < 7:
            raise DataFormatError(csv_path, f"line {line}: emotion {emotion} not in 0-6")
        yield line, emotion, pixels


@DATASETS.register("fer2013")
def load_fer2013(root: str | Path, split: str = "train", cache_dir: str | Path | None = None,
                 image_size: int = 48, ferplus_mix: float = 0.0,
                 ferplus_csv: str | Path | None = None,
                 mapping_tsv: str | Path | None = None) -> FaceArrays:
    """FER2013 from either layout; decoded images are cached as .npz when ``cache_dir`` is set.

    ``ferplus_mix`` w > 0 adds soft targets ``(1 - w) one-hot(FER2013 label) + w FER+ votes``
    (train with ``data.soft_labels: true``); see :func:`attach_ferplus_mix`.
    """
    root = Path(root)
    if not root.exists():
        raise UserError(f"{root}: dataset root not found")
    arrays = _load_fer2013_images(root, split, cache_dir, image_size)
    if ferplus_mix > 0:
        arrays = attach_ferplus_mix(arrays, root, ferplus_mix, ferplus_csv, mapping_tsv)
    return arrays


def fer2013_cache_path(root: Path, split: str, cache_dir: str | Path,
                       image_size: int = 48) -> Path:
    """Where :func:`load_fer2013` caches ``split`` of ``root``: keyed by the resolved root and
    the modification time of its CSV (or of the root folder), so a changed copy is re-read."""
    stamp = (find_csv(root) or root).stat().st_mtime_ns
    key = cache_key(root.resolve(), stamp, image_size)
    return Path(cache_dir) / f"fer2013-{split}-{key}.npz"


def _load_fer2013_images(root: Path, split: str, cache_dir: str | Path | None,
                         image_size: int) -> FaceArrays:
    csv_path = find_csv(root)
    cache = None
    if cache_dir is not None:
        cache = fer2013_cache_path(root, split, cache_dir, image_size)
        cached = load_cache(cache, FER2013_LABELS)
        if cached is not None:
            return cached
    if csv_path is not None:
        arrays = read_csv_layout(csv_path, split)
    else:
        arrays = read_folder_layout(root, split, image_size)
    if cache is not None:
        save_cache(arrays, cache)
    log.info("FER2013 %s: %d faces from %s", split, len(arrays), root)
    return arrays


def ferplus_votes_as_fer2013(votes: np.ndarray) -> np.ndarray | None:
    """FER+ votes (8 classes, unknown, NF) as a distribution over the 7 FER2013 classes
    (contempt has no FER2013 counterpart: its votes are dropped); None when unknown/NF win or
    only contempt was voted."""
    if ferplus_targets(votes) is None:
        return None
    dist = (votes[:8] @ _FERPLUS_TO_FER2013).astype(np.float32)
    total = dist.sum()
    return dist / total if total > 0 else None


def attach_ferplus_mix(arrays: FaceArrays, root: Path, weight: float,
                       ferplus_csv: str | Path | None = None,
                       mapping_tsv: str | Path | None = None) -> FaceArrays:
    """Soft targets ``(1 - weight) one-hot + weight FER+ distribution`` for every face FER+
    voted on; faces without usable votes (missing, unknown/NF, contempt only) keep one-hot."""
    if not 0 < weight <= 1:
        raise UserError(f"ferplus_mix must be in (0, 1], got {weight}")
    ferplus_csv, mapping_tsv = ferplus_files(root, ferplus_csv, mapping_tsv)
    by_name = {name: v for (_, name), v in read_ferplus_votes(ferplus_csv).items()}
    if find_csv(root) is not None:  # FER+ names rows fer%07d.png by their position
        names = [f"fer{int(s.rsplit(':', 1)[1]) - 2:07d}.png" for s in arrays.sources]
    else:
        png_of = {jpg: png.split("/", 1)[1] for png, jpg in read_ferplus_mapping(mapping_tsv)}
        names = [png_of.get(s, "") for s in arrays.sources]
    soft = np.eye(FER2013_LABELS.num_classes, dtype=np.float32)[arrays.labels]
    mixed = 0
    for i, name in enumerate(names):
        votes = by_name.get(name)
        dist = None if votes is None else ferplus_votes_as_fer2013(votes)
        if dist is not None:
            soft[i] = (1 - weight) * soft[i] + weight * dist
            mixed += 1
    log.info("FER+ mix %.2f: %d of %d faces have FER+ votes", weight, mixed, len(arrays))
    return FaceArrays(arrays.images, arrays.labels, arrays.label_space, arrays.sources, soft)


def read_ferplus_votes(csv_path: Path) -> dict[tuple[str, str], np.ndarray]:
    """``fer2013new.csv`` -> {(Usage, Image name): 10 vote counts (8 classes, unknown, NF)}."""
    votes: dict[tuple[str, str], np.ndarray] = {}
    with open(csv_path, newline="") as handle:
        reader = csv.DictReader(handle)
        fields = {_normalise(f): f for f in reader.fieldnames or []}
        wanted = [*_FERPLUS_VOTE_COLUMNS, "unknown", "nf"]
        for column in ("usage", "imagename", *wanted):
            if column not in fields:
                raise DataFormatError(csv_path, f"missing column '{column}'")
        for row in reader:
            name = row[fields["imagename"]].strip()
            if not name:
                continue  # FER+ leaves the name empty for faces it dropped
            counts = np.array([float(row[fields[c]] or 0) for c in wanted], np.float32)
            votes[(row[fields["usage"]].strip(), name)] = counts
    return votes


def ferplus_files(root: Path, ferplus_csv: str | Path | None,
                  mapping_tsv: str | Path | None) -> tuple[Path, Path]:
    """``fer2013new.csv`` (must exist) and the file-name mapping TSV, by default in the
    ``ferplus`` folder beside the FER2013 root."""
    ferplus_dir = Path(ferplus_csv).parent if ferplus_csv else root.parent / "ferplus"
    ferplus_csv = Path(ferplus_csv) if ferplus_csv else ferplus_dir / "fer2013new.csv"
    if not ferplus_csv.is_file():
        raise UserError(f"{ferplus_csv}: FER+ label file not found")
    mapping = Path(mapping_tsv) if mapping_tsv else ferplus_dir / "ferplus_to_fer2013_files.tsv"
    return ferplus_csv, mapping


def read_ferplus_mapping(mapping_tsv: Path) -> list[tuple[str, str]]:
    """(ferplus_png, fer2013_jpg) rows of ``ferplus_to_fer2013_files.tsv``, in file order."""
    if not mapping_tsv.is_file():
        raise UserError(f"{mapping_tsv}: FER+ to FER2013 file mapping not found")
    with open(mapping_tsv, newline="") as handle:
        return [(row["ferplus_png"], row["fer2013_jpg"])
                for row in csv.DictReader(handle, delimiter="\t")]


def ferplus_targets(votes: np.ndarray) -> tuple[int, np.ndarray] | None:
    """Majority class and vote distribution over the 8 classes; None when unknown/NF win."""
    emotion_votes = votes[:8]
    if emotion_votes.sum() <= 0 or votes[8:].max() >= emotion_votes.max():
        return None
    return int(emotion_votes.argmax()), emotion_votes / emotion_votes.sum()


@DATASETS.register("ferplus")
def load_ferplus(root: str | Path, split: str = "train", ferplus_csv: str | Path | None = None,
                 mapping_tsv: str | Path | None = None, image_size: int = 48,
                 cache_dir: str | Path | None = None) -> FaceArrays:
    """FER+ labels on FER2013 faces (folder layout + mapping TSV, or CSV layout in row order)."""
    root = Path(root)
    if not root.exists():
        raise UserError(f"{root}: dataset root not found")
    ferplus_csv, mapping_tsv = ferplus_files(root, ferplus_csv, mapping_tsv)
    csv_path = find_csv(root)
    cache = None
    if cache_dir is not None:
        stamps = [p.stat().st_mtime_ns for p in (csv_path or root, ferplus_csv, mapping_tsv)
                  if p.exists()]
        key = cache_key(root.resolve(), ferplus_csv.resolve(), *stamps, image_size)
        cache = Path(cache_dir) / f"ferplus-{split}-{key}.npz"
        cached = load_cache(cache, FERPLUS_LABELS)
        if cached is not None:
            return cached
    votes = read_ferplus_votes(ferplus_csv)
    if csv_path is not None:
        arrays = _ferplus_on_csv(csv_path, split, votes)
    else:
        arrays = _ferplus_on_folders(root, split, votes, mapping_tsv, image_size)
    if cache is not None:
        save_cache(arrays, cache)
    return arrays


def _ferplus_on_csv(csv_path: Path, split: str, votes: dict) -> FaceArrays:
    # FER+ rows follow FER2013 rows one to one, named fer%07d.png by their position.
    base = read_csv_layout(csv_path, "all")
    by_name = {name: v for (_, name), v in votes.items()}
    keep, labels, soft = [], [], []
    usages = CSV_SPLITS.get(split.lower())
    if usages is None:
        raise UserError(f"{csv_path}: unknown split '{split}'; use one of {', '.join(CSV_SPLITS)}")
    usage_of = _csv_usages(csv_path)
    for i in range(len(base)):
        targets = by_name.get(f"fer{i:07d}.png")
        if targets is None or usage_of[i] not in usages:
            continue
        result = ferplus_targets(targets)
        if result is not None:
            keep.append(i)
            labels.append(result[0])
            soft.append(result[1])
    if not keep:
        raise DataFormatError(csv_path, f"no FER+ labelled rows with Usage in {usages}")
    return FaceArrays(base.images[keep], np.asarray(labels, np.int64), FERPLUS_LABELS,
                      [base.sources[i] for i in keep], np.stack(soft).astype(np.float32))


def _csv_usages(csv_path: Path) -> list[str]:
    with open(csv_path, newline="") as handle:
        reader = csv.reader(handle)
        header = [_normalise(c) for c in next(reader)]
        u_col = header.index("usage")
        return [row[u_col].strip() for row in reader]


def _ferplus_on_folders(root: Path, split: str, votes: dict, mapping_tsv: Path,
                        image_size: int) -> FaceArrays:
    prefix = {"FER2013Train": "Training", "FER2013Valid": "PublicTest",
              "FER2013Test": "PrivateTest"}
    images, labels, soft, sources = [], [], [], []
    wanted = set(FOLDER_SPLITS.get(split.lower(), ()))
    for png, jpg in read_ferplus_mapping(mapping_tsv):
        folder, name = png.split("/", 1)
        target = root / jpg
        if jpg.split("/", 1)[0] not in wanted or not target.is_file():
            continue
        counts = votes.get((prefix.get(folder, folder), name))
        result = None if counts is None else ferplus_targets(counts)
        if result is None:
            continue
        images.append(_read_grey(target, image_size))
        labels.append(result[0])
        soft.append(result[1])
        sources.append(jpg)
    if not images:
        raise DataFormatError(mapping_tsv, f"no FER+ labelled images found under {root}")
    return FaceArrays(np.stack(images), np.asarray(labels, np.int64), FERPLUS_LABELS, sources,
                      np.stack(soft).astype(np.float32))
