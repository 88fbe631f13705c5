"""``emoscope export MODEL --onnx``: a thin wrapper over ``models/files/onnx_export.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emoscope.errors import UserError


def default_onnx_path(model: str, resolved: Path) -> Path:
    """Beside a model file (``x.safetensors`` -> ``x.onnx``); a shipped model goes to the
    current folder as ``<name>.onnx``."""
    if Path(model).suffix in (".json", ".safetensors", ".ckpt") or Path(model).exists():
        return resolved.with_suffix(".onnx")
    return Path(f"{model}.onnx")


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        model: Annotated[str, typer.Argument(
            help="Shipped model name or a .safetensors/.json/.ckpt path.")],
        onnx: Annotated[bool, typer.Option("--onnx", help="Export to ONNX.")] = False,
        out: Annotated[Path | None, typer.Option(
            "--out", "-o", help="Output .onnx path (default: beside the model file, or "
            "./<name>.onnx for a shipped model).")] = None,
        opset: Annotated[int, typer.Option("--opset", min=13, help="ONNX opset.")] = 18,
        exporter: Annotated[str, typer.Option(
            "--exporter", help="torchscript (fast, default) or dynamo (torch.export).")] = (
            "torchscript"),
        task: Annotated[str, typer.Option(
            "--task", help="Task whose default model a missing name means.")] = (
            "face_expression"),
    ) -> None:
        """Export a model to ONNX with a dynamic batch axis, checked against PyTorch.

        Its card is copied beside the file with an 'onnx' entry.
        """
        if not onnx:
            raise UserError("choose an export format: --onnx")
        from emoscope.models.files.checkpoint import load_model
        from emoscope.models.files.onnx_export import export_onnx
        from emoscope.models.files.zoo import resolve_model_path

        resolved = resolve_model_path(model, task)
        network, card = load_model(resolved)
        target = out or default_onnx_path(model, resolved)
        if target.suffix != ".onnx":
            raise UserError(f"{target}: the output path must end in .onnx")
        weights = resolved.with_suffix(".safetensors") if resolved.suffix != ".ckpt" else None
        result = export_onnx(network, card, target, opset=opset, exporter=exporter,
                             source_weights=weights)
        typer.echo(f"onnx: {result.onnx_path}")
        typer.echo(f"card: {result.card_path}")
        typer.echo(f"parity: max |onnx - torch| = {result.max_abs_diff:.3g} (random inputs, "
                   "batches 1 and 5)")
