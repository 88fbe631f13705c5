"""The process the fuzz test drives: one JSON job per line on stdin, one JSON answer per line.

Jobs: ``{"cli": [args...]}`` runs ``emoscope`` in this process as a user would (its exit
code, stdout and stderr come back); ``{"http": {"name", "path"}}`` uploads a file to the
service (an in-process TestClient). Every answer carries this process's peak RSS. The face
analyser of the well-formed model is built once and reused (run_analysis would build it per
command); everything else, model cards included, is loaded as the command line loads it.
``{"selftest": "segv" | "hang"}`` dies or hangs on purpose (the harness's own check).

    python fuzz_worker.py MODEL SPEECH_MODEL
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cache_the_analyzer(model: str) -> None:
    """Build the analyser of ``model`` once: the detector is not closed after each command."""
    from emoscope.inference import analyze

    build, cached = analyze.build_analyzer, {}

    def build_once(options):
        key = (options.model, options.detector, options.runtime, options.align, options.pose,
               options.landmarks, options.smooth, options.annotate)
        if options.model != model:
            return build(options)
        if key not in cached:
            cached[key] = build(options)
            cached[key].detector.close = lambda: None
        cached[key].reset()
        return cached[key]

    analyze.build_analyzer = build_once


def _run_cli(args: list[str]) -> dict:
    from emoscope.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["emoscope", *args]
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:  # noqa: BLE001  (reported to the test as a traceback)
            import traceback

            traceback.print_exc(file=err)
            code = -1
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


class _Service:
    def __init__(self, model: str, speech: str):
        from fastapi.testclient import TestClient

        from emoscope.serve.app import create_app
        from emoscope.serve.settings import ServeSettings

        settings = ServeSettings(model=model, voice_model=speech, timeout_s=60.0)
        self.client = TestClient(create_app(settings))
        self.client.__enter__()

    def upload(self, name: str, path: str) -> dict:
        with open(path, "rb") as handle:
            response = self.client.post("/analyze", files={"file": (name, handle.read())})
        try:
            body = response.json()
        except ValueError:
            body = {"text": response.text[:500]}
        faces = len(body.get("rows", [])) if isinstance(body, dict) else 0
        return {"status": response.status_code, "detail": body.get("detail")
                if isinstance(body, dict) else None, "faces": faces}


def main() -> None:
    model, speech = sys.argv[1], sys.argv[2]
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # native libraries' prints must not reach the answers
    service, cached = None, False
    for line in sys.stdin:
        job = json.loads(line)
        if "selftest" in job:  # the test's own check that crashes and hangs are caught
            import signal
            import time

            if job["selftest"] == "segv":
                os.kill(os.getpid(), signal.SIGSEGV)
            time.sleep(3600)
        if not cached:  # on the first real job: a selftest worker starts in no time
            _cache_the_analyzer(model)
            cached = True
        if "cli" in job:
            answer = _run_cli(job["cli"])
        else:
            service = service or _Service(model, speech)
            answer = service.upload(job["http"]["name"], job["http"]["path"])
        answer["peak_rss_mb"] = _peak_rss_mb()
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
