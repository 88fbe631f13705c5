"""Starting a network from a model of another label space (FER2013 -> FER+)."""

import pytest
import torch
from torch import nn

from emoscope.errors import UserError
from emoscope.training.init_weights import load_start_weights


class Tiny(nn.Module):
    def __init__(self, classes: int):
        super().__init__()
        self.body = nn.Linear(4, 3)
        self.head = nn.Linear(3, classes)


def test_head_rows_follow_label_names_and_new_classes_start_from_the_mean():
    torch.manual_seed(0)
    start, network = Tiny(3), Tiny(4)
    load_start_weights(network, start, ("angry", "happy", "neutral"),
                       ("neutral", "happiness", "anger", "contempt"), "start.json")
    assert torch.equal(network.body.weight, start.body.weight)
    assert torch.equal(network.head.weight[0], start.head.weight[2])  # neutral
    assert torch.equal(network.head.weight[1], start.head.weight[1])  # happy -> happiness
    assert torch.equal(network.head.weight[2], start.head.weight[0])  # angry -> anger
    assert torch.allclose(network.head.weight[3], start.head.weight.mean(0))
    assert torch.allclose(network.head.bias[3], start.head.bias.mean())


def test_another_architecture_is_one_clear_error():
    class Other(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(5, 3)
            self.head = nn.Linear(3, 3)

    with pytest.raises(UserError, match=r"start.json: weight 'body.weight' has shape"):
        load_start_weights(Other(), Tiny(3), ("a", "b", "c"), ("a", "b", "c"), "start.json")
