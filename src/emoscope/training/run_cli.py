"""``python -m emoscope.training.run_cli [CONFIG.yaml] key=value ...``: train without typer."""

from __future__ import annotations

import logging
import shlex
import sys

from emoscope.config import merge_config
from emoscope.training.config import TrainConfig
from emoscope.training.train import train


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    config = argv[0] if argv and argv[0].endswith((".yaml", ".yml")) else None
    overrides = [a for a in argv if "=" in a]
    cfg = merge_config(TrainConfig, config, overrides)
    command = shlex.join(["python", "-m", "emoscope.training.run_cli", *argv])
    result = train(cfg, resume="--resume" in argv, command=command)
    logging.info("scores %s -> %s", result.metrics, result.model_path)


if __name__ == "__main__":
    main(sys.argv[1:])
