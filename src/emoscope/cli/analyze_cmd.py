"""``emoscope analyze``, ``emoscope webcam`` and ``emoscope demo``: thin wrappers."""

from __future__ import annotations

import sys

import typer

from emoscope.cli.console import RichProgress, print_analysis, print_error
from emoscope.errors import UserError


def check_model_names(options) -> None:
    """The speech and fusion models named on the command line resolved before any input is
    read: a misspelt --voice-model fails at once, also when no input has sound."""
    if not (options.voice and options.voice_model) and not options.av_model:
        return
    from emoscope.models.files.zoo import resolve_model_path

    if options.voice and options.voice_model:
        resolve_model_path(options.voice_model, "speech_emotion")
    if options.av_model:
        resolve_model_path(options.av_model, "av_intermediate")


def register(app: typer.Typer) -> None:
    _register_analyze(app)
    _register_webcam(app)
    _register_demo(app)


def _register_analyze(app: typer.Typer) -> None:
    @app.command("analyze")
    def analyze(
        inputs: list[str] = typer.Argument(..., help="Images, videos or folders.",  # noqa: B008
                                           show_default=False),
        out: str = typer.Option("results", "--out", "-o", help="Output folder."),
        fmt: str = typer.Option("csv", "--format", help="csv, parquet or json."),
        every: int = typer.Option(1, help="Analyse every N-th video frame."),
        fps: float = typer.Option(None, help="Sample videos at this many frames per second."),
        detector: str = typer.Option("mediapipe", help="Face detector (emoscope list detectors)."),
        model: str = typer.Option(None, help="Shipped model name or .safetensors path."),
        device: str = typer.Option("cpu", help="cpu, cuda, cuda:N, mps or auto."),
        runtime: str = typer.Option("auto", help="auto (ONNX Runtime for shipped models and "
                                   "without torch, else PyTorch), torch or onnx."),
        batch_size: int = typer.Option(64, help="Faces per model batch."),
        align: bool = typer.Option(True, "--align/--no-align", help="Turn faces tilted 10 or "
                                   "more degrees upright before classifying them."),
        smooth: int = typer.Option(1, help="Temporal smoothing over K frames per track (1: off)."),
        smooth_method: str = typer.Option("ema", help="ema or window."),
        annotate: bool = typer.Option(False, help="Write annotated png/mp4 files."),
        plots: bool = typer.Option(True, "--plots/--no-plots", help="Write plots."),
        max_faces: int = typer.Option(0, help="Most faces per frame (0: all)."),
        min_face: int = typer.Option(20, help="Smallest face side in pixels."),
        threshold: float = typer.Option(0.5, help="Detector confidence threshold."),
        detector_opt: list[str] = typer.Option(  # noqa: B008
            None, "--detector-opt", help="Detector setting KEY=VALUE, e.g. model=full."),
        pose: bool = typer.Option(False, help="Head pose per face: yaw, pitch, roll (degrees, "
                                  "from MediaPipe's face mesh)."),
        landmarks: bool = typer.Option(False, help="The face mesh's 468 points per face as "
                                       "lm_x_<k>, lm_y_<k> columns (with --pose's columns)."),
        engine: str = typer.Option("local", help="local (this process) or ray (one task per "
                                   "input over local cores or a cluster)."),
        address: str = typer.Option(None, help="Ray cluster address (default: start a local "
                                    "one)."),
        workers: int = typer.Option(2, help="Ray: local CPUs, i.e. inputs analysed at once."),
        retries: int = typer.Option(2, help="Ray: new attempts after a worker crash or error."),
        voice: bool = typer.Option(True, "--voice/--no-voice", help="Voice timeline of audio "
                                   "files and videos with sound."),
        voice_model: str = typer.Option(None, help="Speech model name or path (default: the "
                                        "shipped speech model)."),
        voice_window: float = typer.Option(1.0, help="Voice window in seconds."),
        voice_hop: float = typer.Option(0.5, help="Seconds between voice windows."),
        fusion: str = typer.Option("none", help="none, late (weighted face + voice "
                                   "probabilities) or intermediate (--av-model)."),
        face_weight: float = typer.Option(0.5, help="Late fusion: weight of the face."),
        av_model: str = typer.Option(None, help="Intermediate fusion: an av_intermediate "
                                     "model file."),
    ) -> None:
        """Analyse faces and voices in images, folders, videos and speech clips.

        Writes a table of per-person, per-frame emotions, plots and (--annotate) annotated
        images and videos.
        """
        from emoscope.config import parse_overrides
        from emoscope.inference.analyze import AnalyzeOptions, run_analysis

        options = AnalyzeOptions(
            out=out, format=fmt, every=every, fps=fps, detector=detector, model=model,
            device=device, runtime=runtime, batch_size=batch_size, align=align, smooth=smooth,
            smooth_method=smooth_method,
            annotate=annotate, plots=plots, max_faces=max_faces, min_face=min_face,
            threshold=threshold, detector_options=parse_overrides(detector_opt, "--detector-opt"),
            pose=pose, landmarks=landmarks, voice=voice, voice_model=voice_model,
            voice_window=voice_window, voice_hop=voice_hop, fusion=fusion,
            face_weight=face_weight, av_model=av_model)
        check_model_names(options)
        if engine != "local":
            from emoscope.cli.batch_view import run_ray_command

            run_ray_command(list(inputs), options, engine, address, workers, retries)
            return
        report = run_analysis(list(inputs), options, progress=RichProgress(),
                              on_error=print_error)
        print_analysis(report)


def _register_webcam(app: typer.Typer) -> None:
    @app.command("webcam")
    def webcam(
        source: str = typer.Option("0", help="Camera index, video file or stream URL."),
        window: bool = typer.Option(True, "--window/--no-window",
                                    help="Show a window; --no-window prints CSV rows."),
        max_frames: int = typer.Option(None, help="Stop after this many frames."),
        detector: str = typer.Option("mediapipe", help="Face detector."),
        model: str = typer.Option(None, help="Shipped model name or .safetensors path."),
        device: str = typer.Option("cpu", help="cpu, cuda, cuda:N, mps or auto."),
        runtime: str = typer.Option("auto", help="auto (ONNX Runtime for shipped models and "
                                   "without torch, else PyTorch), torch or onnx."),
        smooth: int = typer.Option(5, help="Temporal smoothing over K frames per track."),
        smooth_method: str = typer.Option(
            "ema", help="ema, or window: the mean of the last K frames (the self-ensemble of "
            "the multi-task seed; smooths valence/arousal and AUs too)."),
        every: int = typer.Option(1, help="Analyse every N-th frame."),
        max_faces: int = typer.Option(0, help="Most faces per frame (0: all)."),
        min_face: int = typer.Option(20, help="Smallest face side in pixels."),
        threshold: float = typer.Option(0.5, help="Detector confidence threshold."),
        pose: bool = typer.Option(False, help="Head pose per face: yaw, pitch, roll."),
        align: bool = typer.Option(True, "--align/--no-align", help="Turn tilted faces upright "
                                   "before classifying them."),
    ) -> None:
        """Live analysis in a window (q quits), or headless rows on stdout."""
        from emoscope.inference.analyze import AnalyzeOptions
        from emoscope.inference.live import run_live

        options = AnalyzeOptions(detector=detector, model=model, device=device, runtime=runtime,
                                 smooth=smooth, smooth_method=smooth_method,
                                 every=every, max_faces=max_faces, min_face=min_face,
                                 threshold=threshold, plots=False, pose=pose, align=align)
        printer = None if window else _CsvRowPrinter()
        frames = run_live(source, options, window=window, max_frames=max_frames,
                          on_rows=printer)
        if frames == 0:
            raise UserError(f"{source}: no frames could be analysed")


def _register_demo(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: str = typer.Option("runs/demo", "--out", "-o", help="Output folder."),
        model: str = typer.Option(None, help="Shipped model name or .safetensors path."),
        device: str = typer.Option("cpu", help="cpu, cuda, cuda:N, mps or auto."),
    ) -> None:
        """Render sample media (public-domain astronaut photo) and analyse them into OUT."""
        from emoscope.inference.demo import run_demo

        report = run_demo(out, model=model, device=device)
        for error in report.errors:
            print_error(error)
        print_analysis(report)
        typer.echo(f"demo results in {out}/ (tables, *_tracks, plots, *_annotated.*)")


class _CsvRowPrinter:
    """Rows of ``--no-window`` as CSV on stdout: header once, then one line per face."""

    def __init__(self) -> None:
        self._header: list[str] | None = None

    def __call__(self, rows: list[dict[str, object]]) -> None:
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        for row in rows:
            if self._header is None:
                self._header = list(row)
                writer.writerow(self._header)
            writer.writerow([_fmt(row.get(k)) for k in self._header])
        sys.stdout.flush()


def _fmt(value: object) -> object:
    return f"{value:.6g}" if isinstance(value, float) else value
