"""``emoscope serve``: the analysis as an HTTP service; a thin wrapper over ``emoscope.serve``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: all)."),
        port: int = typer.Option(8000, help="TCP port."),
        model: str = typer.Option(None, help="Shipped model name or .safetensors path."),
        detector: str = typer.Option("mediapipe", help="Face detector (emoscope list detectors)."),
        device: str = typer.Option("cpu", help="cpu, cuda, cuda:N, mps or auto."),
        runtime: str = typer.Option("auto", help="auto (ONNX Runtime for shipped models and "
                                   "without torch, else PyTorch), torch or onnx."),
        max_upload_mb: float = typer.Option(50.0, help="Largest upload accepted, in MB."),
        timeout: float = typer.Option(60.0, help="Seconds one request may take."),
        allow_path: str = typer.Option(
            None, help="Folder whose files requests may name with ?path= (off by default)."),
        workers: int = typer.Option(1, help="Analysers (detector + model) loaded at start."),
        keep_results: int = typer.Option(64, help="Recent results whose files stay available."),
        max_faces: int = typer.Option(0, help="Most faces per frame (0: all)."),
        min_face: int = typer.Option(20, help="Smallest face side in pixels."),
        threshold: float = typer.Option(0.5, help="Detector confidence threshold."),
        detector_opt: list[str] = typer.Option(  # noqa: B008
            None, "--detector-opt", help="Detector setting KEY=VALUE, e.g. model=full."),
        voice_model: str = typer.Option(None, help="Speech model name or path for audio "
                                        "uploads and videos with sound (default: the shipped "
                                        "speech model; none: no voice analysis)."),
        voice_window: float = typer.Option(1.0, help="Voice window in seconds."),
        voice_hop: float = typer.Option(0.5, help="Seconds between voice windows."),
        max_audio_minutes: float = typer.Option(10.0, help="Minutes of sound analysed per "
                                                "file; the rest is left out with a warning."),
        align: bool = typer.Option(True, "--align/--no-align", help="Turn tilted faces "
                                   "upright before classifying them."),
        pose: bool = typer.Option(False, help="Head pose (yaw, pitch, roll) in every "
                                  "response."),
    ) -> None:
        """Serve POST /analyze, GET /models, GET /health and an upload page at /."""
        from emoscope.config import parse_overrides
        from emoscope.errors import UserError
        from emoscope.serve.settings import ServeSettings

        try:
            import fastapi  # noqa: F401
            import uvicorn  # noqa: F401
        except ImportError as err:
            raise UserError(f"emoscope serve needs the serve extra ({err.name} is missing): "
                            "pip install 'emoscope[serve]'") from None
        from emoscope.serve.server import run_server

        settings = ServeSettings(
            host=host, port=port, model=model, detector=detector, device=device, runtime=runtime,
            max_upload_mb=max_upload_mb, timeout_s=timeout, allow_path=allow_path,
            workers=workers, keep_results=keep_results, max_faces=max_faces, min_face=min_face,
            threshold=threshold,
            detector_options=parse_overrides(detector_opt, "--detector-opt"),
            voice_model=voice_model, voice_window_s=voice_window, voice_hop_s=voice_hop,
            max_audio_s=max_audio_minutes * 60, align=align, pose=pose)
        settings.validate()
        run_server(settings)
