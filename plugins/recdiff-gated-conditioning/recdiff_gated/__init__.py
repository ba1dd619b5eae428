"""The `gated` conditioning block: a learned sigmoid gate decides, per dimension and position,
how much of the noised target enters each history item.

Importing this module registers the block; recdiff imports it through the `recdiff.plugins`
entry point declared in pyproject.toml.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

import recdiff
from recdiff.nn.conditioning import ConditioningBlock
from recdiff.nn.randomness import NoiseStream
from recdiff.registry import Params

__version__ = "0.1.0"


class GatedParams(Params):
    init_bias: float = Field(-2.0, description="Initial gate bias: sigmoid(-2) = 0.12 lets a little of the target in.")


@recdiff.register("conditioning", "gated")
class GatedConditioning(ConditioningBlock):
    """z_i = e_i + g_i * (x + d), with g_i = sigmoid(W [e_i; x + d] + b) learned per dimension."""

    Params = GatedParams

    def __init__(self, hidden: int, num_blocks: int, dropout: float, init_bias: float = -2.0) -> None:
        super().__init__()
        self.init_bias = init_bias
        self.gate = nn.Linear(2 * hidden, hidden)
        self.init_parameters()

    def init_parameters(self) -> None:
        """Start from a gate that is the same everywhere (zero weights, bias `init_bias`)."""
        nn.init.zeros_(self.gate.weight)
        nn.init.constant_(self.gate.bias, self.init_bias)

    def forward(
        self, history: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, noise: NoiseStream
    ) -> torch.Tensor:
        target = target.unsqueeze(1).expand_as(history)
        gate = torch.sigmoid(self.gate(torch.cat([history, target], dim=-1)))
        return history + gate * target
