"""Fit a linear probe on a frozen pretrained speech encoder (see emoscope.training.speech_probe).

    python scripts/fit_speech_probe.py configs/ravdess_speech_ge2e.yaml \
        [--set name=...] [--set data.kwargs.val_fold=0] [--cs 0.001,0.003,0.01,0.03,0.1]
"""

from __future__ import annotations

import argparse
import shlex
import sys

import torch

from emoscope import components  # noqa: F401  (fills the registries)
from emoscope.config import merge_config
from emoscope.training.speech_config import SpeechTrainConfig
from emoscope.training.speech_probe import DEFAULT_CS, fit_speech_probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--cs", default=",".join(map(str, DEFAULT_CS)))
    args = parser.parse_args()
    cfg = merge_config(SpeechTrainConfig, args.config, args.set)
    torch.set_num_threads(cfg.trainer.num_threads)
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    path, scores = fit_speech_probe(cfg, [float(c) for c in args.cs.split(",")], command)
    print(f"wrote {path}: {scores}")


if __name__ == "__main__":
    main()
