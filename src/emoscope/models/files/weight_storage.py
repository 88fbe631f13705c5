"""How a model file stores its weights: float32, float16, or int8.

``int8`` keeps the large convolution and linear weights as symmetric int8 with one float16
scale per output channel, a quarter of float32, and the rest as float16: biases and norm
statistics, and the weights that quantisation hurts most for their size, those with fewer
than 32 values per output channel (depthwise kernels) or fewer than 20,000 in all (the stem,
small heads). On EfficientNet-Lite0 speech models quantising everything moved class
probabilities by 0.0086 on average and changed 3% of predictions; this split moves them by
0.0027 and changes 1% (docs/research/speech.md), for under 10% more bytes. Loading expands them back
to float32, so a model holds ordinary float parameters and runs as fast as before; only the
file is smaller. Quantised weights sit under ``<key>:int8`` with their scales under
``<key>:scale``, names no PyTorch module can produce.
"""

from __future__ import annotations

import torch

from emoscope.errors import UserError

PRECISIONS: tuple[str, ...] = ("float32", "float16", "int8")
_QUANTISED, _SCALE = ":int8", ":scale"
_MIN_PER_CHANNEL, _MIN_VALUES = 32, 20_000
STORED_DTYPE = {"float16": "float16",
                "int8": "int8 per-output-channel large weights, float16 other tensors"}


def _worth_quantising(weight: torch.Tensor) -> bool:
    return (weight.ndim >= 2 and weight.numel() >= _MIN_VALUES
            and weight[0].numel() >= _MIN_PER_CHANNEL)


def _quantise(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = weight.float().reshape(weight.shape[0], -1)
    # the float16 scale that will be read back, never zero (all-zero channels stay zero)
    scale = (flat.abs().amax(dim=1) / 127.0).half().float().clamp_min(6e-8)
    codes = torch.round(flat / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return codes.reshape(weight.shape), scale.half()


def compress(tensors: dict[str, torch.Tensor], precision: str) -> dict[str, torch.Tensor]:
    """``tensors`` as ``precision`` stores them (see the module docstring)."""
    if precision not in PRECISIONS:
        raise UserError(f"unknown weight precision {precision!r}; choose one of "
                        f"{', '.join(PRECISIONS)}")
    if precision == "float32":
        return dict(tensors)
    out: dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        if not value.is_floating_point():
            out[key] = value
        elif precision == "int8" and _worth_quantising(value):
            out[key + _QUANTISED], out[key + _SCALE] = _quantise(value)
        else:
            out[key] = value.half()
    return out


def stored_shapes(shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """The float weights' shapes that a stored file's tensor shapes stand for (an int8 weight
    keeps its shape; its scale is no weight of the network)."""
    return {(k[: -len(_QUANTISED)] if k.endswith(_QUANTISED) else k): v
            for k, v in shapes.items() if not k.endswith(_SCALE)}


def expand(state: dict[str, torch.Tensor], source: object) -> dict[str, torch.Tensor]:
    """The float weights a stored ``state`` stands for; plain tensors pass unchanged."""
    out = {k: v for k, v in state.items() if not k.endswith((_QUANTISED, _SCALE))}
    for key in (k for k in state if k.endswith(_QUANTISED)):
        name = key[: -len(_QUANTISED)]
        scale = state.get(name + _SCALE)
        codes = state[key]
        if scale is None or scale.ndim != 1 or scale.shape[0] != codes.shape[0]:
            raise UserError(f"{source}: int8 weight '{name}' has no matching per-channel scale")
        shape = (-1,) + (1,) * (codes.ndim - 1)
        out[name] = codes.float() * scale.float().reshape(shape)
    orphans = [k for k in state if k.endswith(_SCALE) and k[: -len(_SCALE)] + _QUANTISED
               not in state]
    if orphans:
        raise UserError(f"{source}: scale '{orphans[0]}' has no int8 weight")
    return out
