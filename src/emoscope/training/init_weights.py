"""Start a network from a trained model file, across label spaces.

Fine-tuning a model on another label space (FER2013's 7 classes into FER+'s 8) keeps every
weight but the class head's; the head's rows are carried over by canonical label name, so
"angry" starts as "anger", and a class the start model never had (contempt) starts from the
mean of the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from emoscope.errors import UserError
from emoscope.labels import label_map


def load_start_weights(network: nn.Module, start: nn.Module, start_labels: Sequence[str],
                       labels: Sequence[str], source: str) -> None:
    """Copy ``start``'s weights into ``network``; class-head rows are matched by label name."""
    own = network.state_dict()
    theirs = start.state_dict()
    mapping = label_map(start_labels, labels)  # (start classes, new classes)
    state = {}
    for key, value in own.items():
        if key not in theirs:
            raise UserError(f"{source}: start model has no weight '{key}' (another architecture?)")
        given = theirs[key]
        if given.shape == value.shape:
            state[key] = given
        elif (given.shape[1:] == value.shape[1:] and given.shape[0] == len(start_labels)
              and value.shape[0] == len(labels)):
            state[key] = _remap_rows(given, mapping)
        else:
            raise UserError(f"{source}: weight '{key}' has shape {tuple(given.shape)}, "
                            f"this network needs {tuple(value.shape)}")
    network.load_state_dict(state)


def _remap_rows(rows: torch.Tensor, mapping) -> torch.Tensor:
    mapping = torch.as_tensor(mapping, dtype=rows.dtype)
    moved = mapping.T @ rows.reshape(rows.shape[0], -1)
    unmatched = mapping.sum(0) == 0
    if unmatched.any():
        moved[unmatched] = rows.reshape(rows.shape[0], -1).mean(0)
    return moved.reshape(mapping.shape[1], *rows.shape[1:])
