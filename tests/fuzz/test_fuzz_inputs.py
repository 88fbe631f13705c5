"""Fuzzing: a few hundred mutated files (images, videos, audio, model cards, a FER2013 CSV, an
EMOTIC Annotations.mat), made from small valid seeds with a seeded RNG, through the command
line (analyze, evaluate, prepare) and the service. Every answer must be one of ours: no
traceback, no death by signal, no hang (a time limit per command), the worker's peak memory
under a fixed bound, and the well-formed input given with the mutants still analysed.

The commands run in one long-lived worker process (tests/fuzz/fuzz_worker.py) so a crash of a
native decoder cannot take pytest down and the models load once; a worker that hangs or dies
is reported with the inputs it was given and replaced.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fuzz_mutations import mutants, mutated_card
from PIL import Image

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
SEED = int(os.environ.get("EMOSCOPE_FUZZ_SEED", "37"))  # other seeds explore further
MAX_RSS_MB = 3000  # the worker holds torch, MediaPipe, two tiny models and the service
COMMAND_TIMEOUT_S = 60.0  # per command (a handful of small inputs); a hang stops far later
MAT_TIMEOUT_S = 90.0  # prepare emotic also runs the face mesh on the fixture's images


class WorkerGone(Exception):
    """The worker hung (no answer within the time limit) or died."""


class Worker:
    """The fuzz worker behind a pipe; ``ask`` sends one job and waits for its answer."""

    def __init__(self, model: Path, speech: Path, cwd: Path):
        self.args = [sys.executable, str(HERE / "fuzz_worker.py"), str(model), str(speech)]
        self.cwd = cwd
        self.log = cwd / "worker_stderr.log"
        self._start()

    def _start(self) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(HERE.parent), *sys.path])}
        self.proc = subprocess.Popen(self.args, cwd=self.cwd, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.log, "a"))  # noqa: SIM115

    def ask(self, job: dict, timeout: float = COMMAND_TIMEOUT_S) -> dict:
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self._replace()
            raise WorkerGone(f"worker had died (exit {self.proc.returncode})") from None
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout)
        selector.close()
        line = self.proc.stdout.readline() if ready else None
        if line:
            return json.loads(line)
        if line is None:
            self.proc.kill()
            self.proc.wait()
            self._start()
            raise WorkerGone(f"no answer within {timeout:.0f} s (hang)")
        code = self.proc.wait()
        self._start()
        raise WorkerGone(f"worker died (exit {code}"
                         f"{', signal ' + str(-code) if code < 0 else ''})")

    def _replace(self) -> None:
        self.proc.wait()
        self._start()

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def speech_model(place) -> Path:
    from speech_fixtures import save_tiny_speech_model

    return save_tiny_speech_model(place / "speech")


@pytest.fixture(scope="module")
def worker(place, tiny_model_path, speech_model):
    worker = Worker(tiny_model_path, speech_model, place)
    yield worker
    worker.close()


@pytest.fixture(scope="module")
def seeds(place, astronaut_rgb) -> dict[str, Path]:
    """The valid files every mutant starts from."""
    import soundfile as sf

    from speech_fixtures import emotion_tone, write_av_clip

    folder = place / "seeds"
    folder.mkdir()
    photo = Image.fromarray(astronaut_rgb).resize((192, 192))
    photo.save(folder / "good.png")
    photo.save(folder / "seed.jpg", quality=85)
    sf.write(str(folder / "seed.wav"), emotion_tone(4, seconds=0.8), 16000)
    frames = [np.asarray(photo.resize((96, 96)).rotate(3 * i)) for i in range(6)]
    write_av_clip(folder / "seed.mp4", seconds=0.75, fps=8, frames=frames)
    return {p.name: p for p in folder.iterdir()}


class Findings:
    """What went wrong, with the inputs that did it (kept on disk for reproduction)."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.peak_rss_mb = 0.0
        self.jobs = 0

    def check_cli(self, answer: dict, inputs: list[Path], codes=(0, 1, 2)) -> None:
        self.jobs += 1
        self.peak_rss_mb = max(self.peak_rss_mb, answer["peak_rss_mb"])
        where = ", ".join(p.name for p in inputs)
        if "Traceback" in answer["stderr"] or answer["code"] not in codes:
            tail = answer["stderr"].strip().splitlines()[-3:]
            self.problems.append(f"{where}: exit {answer['code']}: {' | '.join(tail)}"[:400])

    def gone(self, err: WorkerGone, inputs: list[Path]) -> None:
        self.jobs += 1
        self.problems.append(f"{', '.join(p.name for p in inputs)}: {err}")

    def assert_clean(self) -> None:
        assert not self.problems, f"{len(self.problems)} of {self.jobs} commands:\n" + \
            "\n".join(self.problems[:20])
        assert self.peak_rss_mb < MAX_RSS_MB, f"peak RSS {self.peak_rss_mb:.0f} MB"


def _write_mutants(seed: Path, count: int, rng, others: list[bytes], folder: Path,
                   suffix: str | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (how, data) in enumerate(mutants(seed.read_bytes(), count, rng, others)):
        path = folder / f"{seed.stem}-{i:03d}-{how}{suffix or seed.suffix}"
        path.write_bytes(data)
        paths.append(path)
    return paths


def _analyse_in_groups(worker: Worker, findings: Findings, files: list[Path], good: Path,
                       out: Path, group: int, *options: str) -> None:
    """``analyze`` of ``group`` mutants at a time with the good photo last: the photo's table
    must be written whatever the mutants do."""
    for start in range(0, len(files), group):
        inputs = files[start:start + group]
        target = out / f"run{start:03d}"
        args = ["analyze", *map(str, inputs), str(good), "--out", str(target), "--no-plots",
                *options]
        try:
            answer = worker.ask({"cli": args})
        except WorkerGone as err:
            findings.gone(err, inputs)
            continue
        findings.check_cli(answer, inputs, codes=(0, 1))
        if not (target / "good.csv").is_file():
            findings.problems.append(f"{', '.join(p.name for p in inputs)}: the good photo "
                                     "was not analysed")


def _other_headers(seeds: dict[str, Path]) -> list[bytes]:
    return [p.read_bytes()[:512] for p in seeds.values()]


def test_mutated_images(worker, seeds, place, tiny_model_path):
    rng, findings = np.random.default_rng(SEED), Findings()
    others = _other_headers(seeds)
    files = (_write_mutants(seeds["good.png"], 40, rng, others, place / "images")
             + _write_mutants(seeds["seed.jpg"], 40, rng, others, place / "images"))
    _analyse_in_groups(worker, findings, files, seeds["good.png"], place / "out_images", 8,
                       "--model", str(tiny_model_path), "--no-voice")
    findings.assert_clean()


def test_mutated_videos_and_audio(worker, seeds, place, tiny_model_path, speech_model):
    rng, findings = np.random.default_rng(SEED + 1), Findings()
    others = _other_headers(seeds)
    files = (_write_mutants(seeds["seed.mp4"], 30, rng, others, place / "videos")
             + _write_mutants(seeds["seed.wav"], 30, rng, others, place / "audio"))
    _analyse_in_groups(worker, findings, files, seeds["good.png"], place / "out_av", 5,
                       "--model", str(tiny_model_path), "--voice-model", str(speech_model))
    findings.assert_clean()


def test_mutated_model_cards(worker, seeds, place, tiny_model_path):
    rng, findings = np.random.default_rng(SEED + 2), Findings()
    card = json.loads(tiny_model_path.with_suffix(".json").read_text())
    folder = place / "cards"
    folder.mkdir()
    for i in range(30):
        path = folder / f"card-{i:03d}.json"
        path.write_text(mutated_card(card, rng))
        path.with_suffix(".safetensors").symlink_to(tiny_model_path)
        target = place / "out_cards" / path.stem
        args = ["analyze", str(seeds["good.png"]), "--model", str(path), "--out", str(target),
                "--no-plots", "--no-voice"]
        try:
            answer = worker.ask({"cli": args})
        except WorkerGone as err:
            findings.gone(err, [path])
            continue
        findings.check_cli(answer, [path], codes=(0, 2))
        lines = [line for line in answer["stderr"].splitlines() if line.startswith("error:")]
        if answer["code"] == 2 and len(lines) != 1:
            findings.problems.append(f"{path.name}: {len(lines)} error lines")
    findings.assert_clean()


def test_mutated_fer2013_csv(worker, place, tiny_model_path):
    from synthetic_faces import write_fer2013_csv

    rng, findings = np.random.default_rng(SEED + 3), Findings()
    seed = write_fer2013_csv(place / "fer_seed", 1, 1, 1).root / "fer2013.csv"
    for i, (how, data) in enumerate(mutants(seed.read_bytes(), 16, rng, [b"PK\x03\x04"])):
        root = place / "fer" / f"{i:03d}-{how}"
        root.mkdir(parents=True)
        (root / "fer2013.csv").write_bytes(data)
        args = ["evaluate", "--dataset", "fer2013", "--root", str(root), "--model",
                str(tiny_model_path), "--out", str(root / "report")]
        try:
            findings.check_cli(worker.ask({"cli": args}), [root / "fer2013.csv"])
        except WorkerGone as err:
            findings.gone(err, [root / "fer2013.csv"])
    findings.assert_clean()


def test_mutated_emotic_annotations(worker, place):
    from emotic_fixtures import make_images, write_layout

    rng, findings = np.random.default_rng(SEED + 4), Findings()
    seed_root = write_layout("mat", place / "emotic_seed",
                             make_images({"train": 2, "val": 1, "test": 1}, persons=1))
    mat = seed_root / "Annotations" / "Annotations.mat"
    for i, (how, data) in enumerate(mutants(mat.read_bytes(), 5, rng, [b"MATLAB 5.0"])):
        root = place / "emotic" / f"{i:03d}-{how}"
        shutil.copytree(seed_root, root)
        (root / "Annotations" / "Annotations.mat").write_bytes(data)
        args = ["prepare", "emotic", str(root)]
        try:
            answer = worker.ask({"cli": args}, timeout=MAT_TIMEOUT_S)
        except WorkerGone as err:
            findings.gone(err, [root / "Annotations" / "Annotations.mat"])
            continue
        findings.check_cli(answer, [root / "Annotations" / "Annotations.mat"])
    findings.assert_clean()


def test_mutated_uploads_to_the_service(worker, seeds, place):
    rng, findings = np.random.default_rng(SEED + 5), Findings()
    others = _other_headers(seeds)
    uploads = [path for name in ("good.png", "seed.jpg", "seed.mp4", "seed.wav")
               for path in _write_mutants(seeds[name], 15, rng, others, place / "uploads")]
    started = time.monotonic()
    for i, path in enumerate(uploads):
        try:
            answer = worker.ask({"http": {"name": path.name, "path": str(path)}})
        except WorkerGone as err:
            findings.gone(err, [path])
            continue
        findings.jobs += 1
        findings.peak_rss_mb = max(findings.peak_rss_mb, answer["peak_rss_mb"])
        detail = answer["detail"]
        if answer["status"] >= 500 or (isinstance(detail, str) and "\n" in detail):
            findings.problems.append(f"{path.name}: HTTP {answer['status']}: {detail}")
        if i % 10 == 9:  # the service still analyses a good photo
            good = worker.ask({"http": {"name": "good.png", "path": str(seeds["good.png"])}})
            if good["status"] != 200 or good["faces"] < 1:
                findings.problems.append(f"after {path.name}: good photo got {good}")
    findings.assert_clean()
    assert time.monotonic() - started < 60 * len(uploads)


def test_the_harness_catches_a_crash_and_a_hang(place, tiny_model_path, speech_model):
    """Signal deaths and hangs of the worker are reported, and a new worker takes over."""
    worker = Worker(tiny_model_path, speech_model, place)
    try:
        with pytest.raises(WorkerGone, match="signal 11"):
            worker.ask({"selftest": "segv"})
        with pytest.raises(WorkerGone, match="hang"):
            worker.ask({"selftest": "hang"}, timeout=2)
        answer = worker.ask({"cli": ["list", "detectors"]})
        assert answer["code"] == 0 and "mediapipe" in answer["stdout"]
    finally:
        worker.close()
