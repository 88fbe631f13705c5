"""``analyze --engine ray``: one Ray task per media file, spread over local cores or a cluster.

A folder is expanded into its media files, each its own task and its own tables (as if the
files had been named one by one), and the batch summary lists every file.

Each task runs exactly what the single-process ``run_analysis`` runs for that input
(``SourceRun`` with the same output stem), so the files are the same; only where they are
computed changes. Workers keep their detector and model between tasks. A task whose worker
crashes or raises is submitted again (``retries``); an input that cannot be decoded fails
once, as it does in a single process. On a cluster ``out`` must be a folder every node sees.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from emoscope.errors import MediaError, UserError
from emoscope.inference.analyze import (
    AnalysisReport,
    AnalyzeOptions,
    InputReport,
    Progress,
    _save_options,
    _unique_stem,
    analyse_one,
    classify_input,
)

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")
SUMMARY_FILE = "batch_summary"
# Unix socket paths (Ray's plasma store lives under its temp dir) must stay under ~107 bytes.
_MAX_TEMP_DIR = 60


@dataclass
class BatchOptions:
    """How ``--engine ray`` spreads the inputs."""

    address: str | None = None  # a running cluster ("ray://host:10001", "auto"); None: local
    workers: int = 2  # CPUs of the local cluster = inputs analysed at once
    retries: int = 2  # new attempts after a worker crash or an exception

    def validate(self) -> None:
        if self.workers < 1:
            raise UserError(f"--workers must be at least 1, got {self.workers}")
        if self.retries < 0:
            raise UserError(f"--retries must be 0 or more, got {self.retries}")


@dataclass
class FileStatus:
    """One row of the final summary."""

    input: str
    stem: str
    status: str = "pending"  # ok | failed (unreadable input) | error (gave up after retries)
    rows: int = 0
    frames: int = 0
    seconds: float = 0.0
    attempts: int = 0
    worker: str = ""
    error: str = ""


@dataclass
class BatchReport:
    analysis: AnalysisReport
    files: list[FileStatus] = field(default_factory=list)
    summary_path: Path | None = None


# --- on the workers --------------------------------------------------------------------------

_ANALYZERS: dict[str, Any] = {}  # one detector + model per worker process and option set
_VOICES: dict[str, Any] = {}  # and one speech model


def _analyzer(options: AnalyzeOptions):
    from emoscope.inference.analyze import build_analyzer

    key = repr(sorted(asdict(options).items()))
    if key not in _ANALYZERS:
        _ANALYZERS[key] = build_analyzer(options)
    return _ANALYZERS[key]


def _voice(options: AnalyzeOptions, out_dir: Path):
    from emoscope.inference.voice import VoiceStage

    key = repr((sorted(asdict(options).items()), str(out_dir)))
    if key not in _VOICES:
        _VOICES[key] = VoiceStage(options, out_dir)
    return _VOICES[key]


def analyse_input(raw: str, stem: str, options: dict[str, Any], out_dir: str) -> dict[str, Any]:
    """Analyse one input on this worker into ``out_dir`` exactly as ``run_analysis`` would."""
    started = time.perf_counter()
    opts = AnalyzeOptions(**options)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    errors: list[str] = []
    try:
        _, media = classify_input(raw, opts)
    except MediaError as err:
        report = InputReport(raw, False, errors=[str(err)])
    else:
        report, _ = analyse_one(raw, media, stem, opts, _analyzer(opts),
                                _voice(opts, Path(out_dir)), Path(out_dir), Progress(), False,
                                errors.append)
    return {"report": report, "seconds": time.perf_counter() - started, "worker": worker}


# --- on the driver ---------------------------------------------------------------------------

def _ray_temp_dir(out_dir: Path) -> str:
    """Ray's session files go under the output folder (nothing lands in $HOME), or in the
    system temp folder when that path would be too long for Ray's sockets."""
    candidate = (out_dir / ".ray").resolve()
    if len(str(candidate)) <= _MAX_TEMP_DIR:
        return str(candidate)
    return tempfile.mkdtemp(prefix="emoscope-ray-")


def _start_ray(batch: BatchOptions, temp_dir: str | None):
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    try:
        import ray
    except ModuleNotFoundError:
        raise UserError("--engine ray needs Ray: pip install 'emoscope[scale]'") from None
    settings: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                "logging_level": logging.WARNING}
    if batch.address:
        settings["address"] = batch.address
    else:  # "local": a cluster of our own, never one that another job on this machine runs
        settings.update(address="local", num_cpus=batch.workers, _temp_dir=temp_dir)
    # Local workers start from the raylet's environment: give them the driver's import path,
    # so plug-ins registered from the driver's own modules resolve there too.
    saved = os.environ.get("PYTHONPATH")
    if not batch.address:
        paths = [p for p in sys.path if p and Path(p).is_dir()]
        os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    try:
        ray.init(**settings)
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = batch.address or "a local cluster"
        raise UserError(f"cannot start Ray on {where}: {str(err).splitlines()[0]}") from None
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    return ray


def media_files(inputs: Sequence[str | Path]) -> list[str]:
    """Files given one by one as they are; a folder as its media files (sorted, hidden and
    non-media files left out as a local run leaves them out): one task per file, so a folder
    of a thousand videos spreads over every worker. A folder without media stays, to fail."""
    from emoscope.data.sources import resolve_input

    files: list[str] = []
    for raw in inputs:
        if not Path(raw).is_dir():
            files.append(str(raw))
            continue
        try:
            files.extend(str(path) for path in resolve_input(raw).files)
        except MediaError:
            files.append(str(raw))
    return files


def _plan(inputs: Sequence[str | Path], options: AnalyzeOptions, on_error: Callable[[str], None]
          ) -> tuple[list[FileStatus], dict[int, InputReport]]:
    """One entry per media file (folders expanded), stems in input order as ``run_analysis``
    gives them to files named one by one; missing inputs fail here."""
    used: set[str] = set()
    plan, failed = [], {}
    for raw in media_files(inputs):
        try:
            name, _ = classify_input(raw, options)
        except MediaError as err:
            on_error(str(err))
            item = FileStatus(str(raw), "", "failed", error=str(err))
            failed[id(item)] = InputReport(str(raw), False, errors=[str(err)])
            plan.append(item)
            continue
        plan.append(FileStatus(str(raw), _unique_stem(name, used)))
    return plan, failed


def run_batch(inputs: Sequence[str | Path], options: AnalyzeOptions, batch: BatchOptions,
              progress: Progress | None = None, on_error: Callable[[str], None] | None = None,
              task: Callable[..., dict[str, Any]] = analyse_input) -> BatchReport:
    """Analyse every input as its own Ray task; writes ``batch_summary.csv`` beside the
    results. ``task`` is the function run per input (tests wrap it to inject failures)."""
    options.validate()
    batch.validate()
    if not inputs:
        raise UserError("no inputs given")
    if options.out is None:
        raise UserError("--engine ray needs an output folder (--out)")
    on_error = on_error or log.error
    out_dir = Path(options.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    options = AnalyzeOptions(**{**asdict(options), "out": str(out_dir)})
    _save_options(options, out_dir)
    plan, reports = _plan(inputs, options, on_error)
    todo = [item for item in plan if item.status == "pending"]
    progress = progress or Progress()
    if todo:
        temp_dir = None if batch.address else _ray_temp_dir(out_dir)
        started = time.perf_counter()
        ray = _start_ray(batch, temp_dir)
        log.info("Ray ready in %.1f s (%s)", time.perf_counter() - started,
                 batch.address or f"local, {batch.workers} worker(s)")
        try:
            reports.update(_run_tasks(ray, ray.remote(task), todo, asdict(options),
                                      str(out_dir), batch.retries, progress, on_error))
        finally:
            ray.shutdown()
            if temp_dir is not None:  # the local cluster's session files and logs
                shutil.rmtree(temp_dir, ignore_errors=True)
    summary = _write_summary(plan, out_dir)
    return BatchReport(AnalysisReport([reports[id(item)] for item in plan]), plan, summary)


def _run_tasks(ray, remote, todo: list[FileStatus], options: dict[str, Any], out_dir: str,
               retries: int, progress: Progress, on_error: Callable[[str], None]
               ) -> dict[int, InputReport]:
    def submit(item: FileStatus):
        item.attempts += 1
        return remote.options(num_cpus=1, max_retries=0).remote(item.input, item.stem,
                                                                options, out_dir)

    pending = {submit(item): item for item in todo}
    reports: dict[int, InputReport] = {}
    progress.start(f"{len(todo)} input(s) on Ray", len(todo))
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            item = pending.pop(done[0])
            try:
                result = ray.get(done[0])
            except Exception as err:  # a crashed worker or a raised exception: try again
                reason = str(err).strip().splitlines()[-1][:200] if str(err).strip() else \
                    type(err).__name__
                if item.attempts <= retries:
                    log.warning("%s: attempt %d failed (%s); retrying", item.input,
                                item.attempts, reason)
                    pending[submit(item)] = item
                    continue
                item.status, item.error = "error", f"{item.input}: {reason}"
                on_error(f"{item.error} (after {item.attempts} attempt(s))")
                reports[id(item)] = InputReport(item.input, False, errors=[item.error])
                progress.advance()
                continue
            report: InputReport = result["report"]
            item.status = "ok" if report.ok else "failed"
            item.rows, item.frames = report.faces, report.frames
            item.seconds, item.worker = round(result["seconds"], 3), result["worker"]
            item.error = "; ".join(report.errors)
            for message in report.errors:
                on_error(message)
            reports[id(item)] = report
            progress.advance()
    finally:
        progress.finish()
    return reports


def _write_summary(plan: list[FileStatus], out_dir: Path) -> Path:
    from emoscope.utils.files import atomic_path

    table = pd.DataFrame([asdict(item) for item in plan],
                         columns=list(FileStatus.__dataclass_fields__))
    path = out_dir / f"{SUMMARY_FILE}.csv"
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path
