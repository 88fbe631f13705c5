"""The HTTP service: ``create_app(settings)`` returns a FastAPI app with the analysis loaded.

Routes: ``POST /analyze`` (upload or allowed server path -> the ``analyze --format json``
face table, and the voice timeline of audio files and videos with sound), ``GET /models``,
``GET /health``, ``GET /results/{id}/{name}`` (annotated media and
plots of a recent request), ``GET /`` (the upload page) and ``GET /openapi.json``.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from emoscope import __version__
from emoscope.data.video import MAX_SAMPLE_FPS
from emoscope.errors import MediaError, UserError
from emoscope.serve.engine import AnalysisEngine, AnalysisTimeout, RequestOptions, ServiceBusy
from emoscope.serve.results import MEDIA_TYPES, ResultStore
from emoscope.serve.settings import ServeSettings
from emoscope.serve.uploads import UploadError, receive_upload, resolve_server_path

log = logging.getLogger(__name__)

STATIC_DIR = Path(str(resources.files("emoscope.serve") / "static"))
# Multipart framing (boundaries, part headers) on top of the file itself.
MULTIPART_OVERHEAD = 64 * 1024
# /health says "wedged" once an analyser has been busy this many request time limits.
WEDGED_AFTER_TIMEOUTS = 2.0


class AnalyzeResponse(BaseModel):
    """One analysed file: ``columns`` and ``rows`` are the ``analyze --format json`` face
    table (empty for audio), ``voice_columns`` and ``voice_rows`` its voice timeline (empty for
    images, videos without sound, or when the service runs without voice)."""

    source: str
    kind: Literal["image", "video", "audio"]
    model: str
    frames: int
    faces: int
    elapsed_s: float
    columns: list[str]
    rows: list[dict[str, Any]]
    files: dict[str, str]  # name -> URL (annotated, timeline, distribution, heatmap,
    #                        av_timeline: face and voice stacked)
    voice_model: str | None  # the speech model, when the voice was analysed
    voice_columns: list[str]
    voice_rows: list[dict[str, Any]]
    warnings: list[str]  # what was left out and why (a video's sound that cannot be decoded)


class ErrorResponse(BaseModel):
    detail: str


class HealthResponse(BaseModel):
    """``wedged`` (HTTP 503): an analyser has been busy for over twice the request time limit,
    so a request is stuck past its deadline and the service needs a restart."""

    status: Literal["ok", "wedged"]
    version: str
    model: str
    detector: str
    voice_model: str | None  # None: started with --voice-model none
    workers: int
    uptime_s: float
    busiest_s: float  # how long the analyser lent longest ago has been busy (0: all free)


class ModelInfo(BaseModel):
    name: str
    task: str
    labels: list[str]
    input_size: list[int]
    grayscale: bool
    scores: dict[str, Any]
    serving: bool


_ERRORS = {code: {"model": ErrorResponse, "description": text} for code, text in (
    (400, "Malformed request or unusable path"),
    (408, "The upload did not arrive within the time limit"),
    (403, "Server path outside the allowed folder, or server paths disabled"),
    (404, "Server path not found"),
    (413, "Upload larger than the limit"),
    (415, "Not an image, video or audio file (content type or file signature), or audio "
          "while the service runs without voice"),
    (422, "Corrupt, truncated or empty media, or invalid options"),
    (503, "No analyser became free in time"),
    (504, "Analysis did not finish within the time limit"),
)}

_UPLOAD_BODY = {"requestBody": {"required": False, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "An image (jpeg, png, webp, bmp, gif, tiff), a video "
                                "(mp4, mov, webm, mkv, avi) or an audio file (wav, flac, "
                                "ogg, mp3, m4a, aac)"}}}}}}}


def create_app(settings: ServeSettings, engine: AnalysisEngine | None = None) -> FastAPI:
    """The service for ``settings``; detector and model load here, once (or pass ``engine``)."""
    settings.validate()
    owns_engine = engine is None
    engine = engine or AnalysisEngine(settings)
    store = ResultStore(settings.keep_results)
    started = time.monotonic()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        store.close()
        if owns_engine:
            engine.close()

    app = FastAPI(title="emoscope", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None, description="Per-face emotion tables for images and "
                  "videos, voice timelines for audio files and videos with sound.")
    app.state.settings, app.state.engine, app.state.store = settings, engine, store
    _add_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse((STATIC_DIR / "index.html").read_text(encoding="utf-8"))

    _add_health_route(app, settings, engine, started)

    @app.get("/models", response_model=list[ModelInfo])
    async def models() -> list[ModelInfo]:
        """The shipped models and the ones being served (which may be model files)."""
        from emoscope.models.files.zoo import shipped_cards

        cards = {card.name: card for card in shipped_cards()}
        serving = [engine.card] + ([engine.voice.card] if engine.voice is not None else [])
        cards.update({card.name: card for card in serving})
        names = {card.name for card in serving}
        return [ModelInfo(name=c.name, task=c.task, labels=list(c.label_space.labels),
                          input_size=list(c.preprocessing.input_size), grayscale=c.grayscale,
                          scores=c.scores, serving=c.name in names)
                for c in cards.values()]

    @app.get("/results/{result_id}/{name}", responses={404: _ERRORS[404]})
    async def result_file(result_id: str, name: str) -> FileResponse:
        """An annotated image/video or plot of a recent ``/analyze`` request."""
        path = store.find(result_id, name)
        if path is None:
            raise UploadError(404, f"no result file '{name}' for id '{result_id}' (results "
                                   f"are kept for the last {settings.keep_results} requests)")
        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix,
                                                              "application/octet-stream"))

    _add_analyze_route(app, settings, engine, store)
    return app


def _add_health_route(app: FastAPI, settings: ServeSettings, engine: AnalysisEngine,
                      started: float) -> None:
    @app.get("/health", response_model=HealthResponse, responses={503: {
        "model": HealthResponse, "description": "An analyser is wedged past its deadline"}})
    async def health() -> JSONResponse:
        """Liveness: the models and detector are loaded, the service answers and no analyser
        is stuck (503 with status ``wedged`` otherwise)."""
        busiest = engine.longest_lend_s()
        wedged = busiest > WEDGED_AFTER_TIMEOUTS * settings.timeout_s
        body = HealthResponse(status="wedged" if wedged else "ok", version=__version__,
                              model=engine.card.name, detector=settings.detector,
                              voice_model=engine.voice_model, workers=settings.workers,
                              uptime_s=round(time.monotonic() - started, 3),
                              busiest_s=round(busiest, 3))
        if wedged:
            log.warning("health: an analyser has been busy for %.1f s (time limit %g s)",
                        busiest, settings.timeout_s)
        return JSONResponse(body.model_dump(), status_code=503 if wedged else 200)


def _add_analyze_route(app: FastAPI, settings: ServeSettings, engine: AnalysisEngine,
                       store: ResultStore) -> None:
    @app.post("/analyze", response_model=AnalyzeResponse, responses=_ERRORS,
              openapi_extra=_UPLOAD_BODY)
    async def analyze(
        request: Request,
        path: str | None = Query(None, description="A file inside the --allow-path folder, "
                                                    "instead of an upload"),
        every: int = Query(1, ge=1, description="Analyse every N-th video frame"),
        fps: float | None = Query(None, gt=0, le=MAX_SAMPLE_FPS, allow_inf_nan=False,
                                  description="Sample video at this rate (frames per second)"),
        smooth: int = Query(1, ge=1, le=1000, description="Smoothing over K frames (1: off)"),
        smooth_method: Literal["ema", "window"] = Query("ema"),
        annotate: bool = Query(False, description="Draw boxes and labels (png or mp4)"),
        plots: bool = Query(False, description="Timeline, distribution and heatmap plots"),
    ) -> AnalyzeResponse:
        """Analyse one uploaded file (multipart field ``file``) or one allowed server path:
        faces of images and videos, the voice of audio files and videos with sound."""
        began = time.monotonic()
        deadline = began + settings.timeout_s
        options = RequestOptions(every, fps, smooth, smooth_method, annotate, plots)
        result_id, folder = store.new_folder()
        try:
            if path is not None:
                media, kind = resolve_server_path(path, settings.allow_path)
                source = path
            else:
                upload = await _receive(request, settings, folder, deadline)
                media, kind, source = upload.path, upload.kind, upload.source
            if kind == "audio" and engine.voice is None:
                raise UploadError(415, f"{source}: audio file, but this service runs without "
                                       "voice analysis (started with --voice-model none)")
            result = await run_in_threadpool(engine.analyse, media, kind, source, options,
                                             folder, deadline, settings.max_audio_s)
        except BaseException:
            store.discard(result_id)
            raise
        if path is None:
            media.unlink(missing_ok=True)  # the upload itself is not a result
        urls = store.publish(result_id, result.files) if result.files else {}
        if not result.files:
            store.discard(result_id)
        elapsed = time.monotonic() - began
        log.info("analyze %s: %d frame(s), %d face(s), %d voice window(s) in %.3f s", source,
                 result.frames, result.faces, len(result.voice_rows), elapsed)
        return AnalyzeResponse(source=source, kind=result.kind, model=engine.card.name,
                               frames=result.frames, faces=result.faces,
                               elapsed_s=round(elapsed, 4), columns=result.columns,
                               rows=result.rows, files=urls, voice_model=result.voice_model,
                               voice_columns=result.voice_columns,
                               voice_rows=result.voice_rows, warnings=result.warnings)


async def _receive(request: Request, settings: ServeSettings, folder: Path, deadline: float):
    """The upload, within the size limit and the request's time limit (a client trickling
    its body in holds a connection, not an analyser)."""
    import asyncio

    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise UploadError(413, f"upload of {int(declared) / 2**20:.1f} MB is larger than the "
                               f"{limit / 2**20:g} MB limit")
    receiving = receive_upload(request.headers.get("content-type", ""), request.stream(),
                               folder, limit)
    try:
        return await asyncio.wait_for(receiving, timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        raise UploadError(408, f"the upload did not arrive within {settings.timeout_s:g} s") \
            from None


def _add_error_handlers(app: FastAPI) -> None:
    def handler(status: int | None):
        async def respond(request: Request, err: Exception) -> JSONResponse:
            code = status if status is not None else err.status
            message = str(err) if not isinstance(err, UploadError) else err.message
            if code >= 500:
                log.warning("%s %s: %s", request.method, request.url.path, message)
            return JSONResponse({"detail": message}, status_code=code)
        return respond

    timeout = app.state.settings.timeout_s
    app.add_exception_handler(UploadError, handler(None))
    app.add_exception_handler(MediaError, handler(422))
    app.add_exception_handler(UserError, handler(400))

    async def timed_out(request: Request, err: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"analysis did not finish within {timeout:g} s"},
                            status_code=504)

    async def busy(request: Request, err: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"no analyser became free within the {timeout:g} s "
                                       "limit (service busy); try again later"},
                            status_code=503)

    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: "
                             f"{e['msg']}" for e in err.errors())
        return JSONResponse({"detail": f"invalid request: {problems}"}, status_code=422)

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(AnalysisTimeout, timed_out)
    app.add_exception_handler(ServiceBusy, busy)
