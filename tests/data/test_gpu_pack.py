"""``scripts/gpu``: the lossless FER2013 pack that travels to a GPU machine, and the unpack
that seeds emoscope's dataset cache there."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import numpy as np
import pytest

from emoscope.data.fer2013 import load_fer2013
from synthetic_faces import write_fer2013_folders

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "gpu"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"gpu_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pack, prep = _script("pack"), _script("prep")


def test_median_predictor_round_trips_every_byte_value():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 48, 48), dtype=np.uint8)
    images[0] = 0
    images[1] = 255
    images[2, ::2] = 255  # stripes: the largest residuals wrap around modulo 256
    residual = pack.med_residual(images)
    assert residual.dtype == np.uint8 and residual.shape == images.shape
    np.testing.assert_array_equal(prep.unmed(residual), images)


def test_median_predictor_leaves_small_residuals_on_smooth_faces():
    ramp = np.add.outer(np.arange(48), np.arange(48)).astype(np.uint8)[None]
    residual = pack.med_residual(ramp).astype(np.int16)
    wrapped = np.minimum(residual, 256 - residual)[:, 1:, 1:]
    assert wrapped.max() <= 1  # a plane is predicted (almost) exactly


def test_pack_then_seeded_cache_gives_the_same_arrays(tmp_path):
    write_fer2013_folders(tmp_path / "fer", train_per_class=3, test_per_class=2)
    original = {s: load_fer2013(tmp_path / "fer", s) for s in ("train", "test")}
    for split, arrays in original.items():
        pack.pack_split(arrays, split, tmp_path / "pack")
    unpacked = {s: prep.unpack(s, tmp_path / "pack") for s in original}
    cache = tmp_path / "cache"
    prep.seed_cache(tmp_path / "empty", unpacked, str(cache))
    assert len(list(cache.glob("fer2013-*.npz"))) == 2
    for split, arrays in original.items():
        seeded = load_fer2013(tmp_path / "empty", split, cache_dir=cache)
        np.testing.assert_array_equal(seeded.images, arrays.images)
        np.testing.assert_array_equal(seeded.labels, arrays.labels)
        assert list(seeded.sources) == list(arrays.sources)
    # the stand-in folders hold no images: without the cache there is nothing to read
    assert not list((tmp_path / "empty").rglob("*.jpg"))


def test_soft_labels_are_refused(tmp_path):
    write_fer2013_folders(tmp_path / "fer", train_per_class=1, test_per_class=1)
    arrays = load_fer2013(tmp_path / "fer", "test")
    arrays.soft_labels = np.full((len(arrays), 7), 1 / 7, np.float32)
    with pytest.raises(ValueError, match="soft labels"):
        pack.pack_split(arrays, "test", tmp_path / "pack")


def _carry(tmp_path: Path, payload: dict[str, bytes], part_bytes: int) -> Path:
    """The layout stage.sh writes: the payload tarred, cut into parts, and a sha256 MANIFEST."""
    stage = tmp_path / ".gpu" / "stage"
    for name, data in payload.items():
        (stage / name).parent.mkdir(parents=True, exist_ok=True)
        (stage / name).write_bytes(data)
    carry = tmp_path / ".gpu" / "carry"
    carry.mkdir(parents=True)
    subprocess.run(f"tar -C {stage} -cf - teacher data | split -b {part_bytes} -d -a 2 - "
                   f"{carry}/part- && cd {carry} && sha256sum part-* > MANIFEST",
                   shell=True, check=True)
    return carry


def _receive(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPTS / "receive.sh"), *args], cwd=cwd,
                          capture_output=True, text=True)


def test_receive_names_missing_parts_then_unpacks_the_payload_byte_for_byte(tmp_path):
    rng = np.random.default_rng(1)
    payload = {"teacher/t.safetensors": rng.bytes(30_000), "data/train.xz": rng.bytes(50_000)}
    carry = _carry(tmp_path, payload, part_bytes=20_000)
    parts = sorted(carry.glob("part-*"))
    assert len(parts) == 5  # 80 kB of files plus tar headers, in 20 kB parts
    held = parts[2].read_bytes()
    parts[2].unlink()
    report = _receive(tmp_path)
    assert report.returncode == 0 and "missing: part-02" in report.stdout
    refused = _receive(tmp_path, "--unpack")
    assert refused.returncode == 4 and not (tmp_path / ".gpu" / "data").exists()
    parts[2].write_bytes(held[:-1] + bytes([held[-1] ^ 1]))  # one flipped bit
    damaged = _receive(tmp_path, "--unpack")
    assert damaged.returncode == 4 and "damaged" in damaged.stderr
    parts[2].write_bytes(held)
    done = _receive(tmp_path, "--unpack")
    assert done.returncode == 0, done.stderr
    for name, data in payload.items():
        assert (tmp_path / ".gpu" / name).read_bytes() == data
