"""Seeded mutations of valid files: bit flips, truncation, header splices, overwritten and
repeated spans; and of model cards, hostile values at random places of the JSON."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import numpy as np

Mutation = Callable[[bytes, np.random.Generator, list[bytes]], bytes]


def bit_flips(data: bytes, rng: np.random.Generator, _others: list[bytes]) -> bytes:
    """1-8 flipped bits, half of the time inside the first 512 bytes (the headers)."""
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        limit = min(len(out), 512) if rng.random() < 0.5 else len(out)
        out[int(rng.integers(limit))] ^= 1 << int(rng.integers(8))
    return bytes(out)


def truncation(data: bytes, rng: np.random.Generator, _others: list[bytes]) -> bytes:
    return data[: int(rng.integers(0, len(data)))]


def header_splice(data: bytes, rng: np.random.Generator, others: list[bytes]) -> bytes:
    """Another format's first bytes in place of this file's."""
    donor = others[int(rng.integers(len(others)))]
    size = int(rng.integers(4, min(len(donor), 256) + 1))
    return donor[:size] + data[size:]


def overwritten_span(data: bytes, rng: np.random.Generator, _others: list[bytes]) -> bytes:
    """A span of zeros, 0xFF or random bytes."""
    out = bytearray(data)
    start = int(rng.integers(len(out)))
    size = int(rng.integers(1, max(2, len(out) // 8)))
    fill = rng.choice([0, 1, 2])
    chunk = (bytes(size) if fill == 0 else b"\xff" * size if fill == 1
             else rng.integers(0, 256, size, dtype=np.uint8).tobytes())
    out[start:start + size] = chunk[: len(out) - start]
    return bytes(out)


def repeated_span(data: bytes, rng: np.random.Generator, _others: list[bytes]) -> bytes:
    start = int(rng.integers(len(data)))
    size = int(rng.integers(1, max(2, min(4096, len(data) - start + 1))))
    return data[:start + size] + data[start:start + size] * int(rng.integers(1, 4)) + \
        data[start + size:]


MUTATIONS: tuple[Mutation, ...] = (bit_flips, truncation, header_splice, overwritten_span,
                                   repeated_span)


def mutants(seed_bytes: bytes, count: int, rng: np.random.Generator,
            others: list[bytes]) -> list[tuple[str, bytes]]:
    """``count`` (mutation name, bytes) pairs; every mutation is used in turn."""
    out = []
    for i in range(count):
        mutation = MUTATIONS[i % len(MUTATIONS)]
        out.append((mutation.__name__, mutation(seed_bytes, rng, others)))
    return out


HOSTILE_VALUES: tuple[object, ...] = (
    -1, 0, 10**12, 1e308, float("nan"), "x", "", None, [], {}, True,
    [3, 40000, 40000], [1, 1, 1], ["a"] * 3, list(range(50)), {"name": "x"},
    "../../etc/passwd", "resnet152", "posix.system",
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Paths to every value inside a JSON tree (dict keys and list indices)."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list) and len(node) <= 64:
        for i, value in enumerate(node):
            found += _paths(value, prefix + (i,))
    return found


def mutated_card(card: dict, rng: np.random.Generator) -> str:
    """The card with 1-3 values replaced by hostile ones or deleted, as JSON text."""
    card = copy.deepcopy(card)
    for _ in range(int(rng.integers(1, 4))):
        paths = _paths(card)
        path = paths[int(rng.integers(len(paths)))]
        parent = card
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and rng.random() < 0.2:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(HOSTILE_VALUES[int(rng.integers(len(HOSTILE_VALUES)))])
    return json.dumps(card)
