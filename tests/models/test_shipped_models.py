"""The models inside the package: each fits the wheel's budget, loads, and has honest scores."""

from __future__ import annotations

import pytest
from safetensors import safe_open

from emoscope.models.files.zoo import DEFAULT_FOR_TASK, WEIGHTS_DIR, shipped_cards, shipped_names

MAX_BYTES = 25_000_000  # the issues' limit for one shipped model


@pytest.mark.parametrize("name", shipped_names())
def test_each_shipped_model_is_under_25_mb_with_a_card_and_scores(name):
    weights = WEIGHTS_DIR / f"{name}.safetensors"
    assert weights.is_file()
    assert weights.stat().st_size < MAX_BYTES
    card = next(c for c in shipped_cards() if c.name == name)
    assert card.scores and all(0 <= v <= 1 for v in card.scores.values()
                               if isinstance(v, float))
    assert card.command
    with safe_open(str(weights), "pt") as handle:
        assert handle.metadata()["format"] == "emoscope-model/1"
        assert handle.metadata()["name"] == name


def test_every_default_is_shipped():
    assert set(DEFAULT_FOR_TASK.values()) <= set(shipped_names())
