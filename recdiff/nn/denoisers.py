"""Denoiser heads (kind `denoiser`): x0_hat from a noised target, its step and one history state.

The `late_fusion` model encodes a history once and hands each prefix's state h_i to a head,
so the head is the only network the reverse sampler runs: it must be small, and it sees one
row at a time (a row is a prefix in training and a user at inference), never the sequence.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from pydantic import Field
from torch import nn

from recdiff.nn.layers import Dropout, StepEmbedding
from recdiff.registry import Params, register


class Denoiser(nn.Module, ABC):
    """Base class of the `denoiser` kind; see `recdiff.registry.denoisers` for the contract."""

    def init_parameters(self) -> None:
        """Called after the model's global initialisation; override to initialise differently."""

    @abstractmethod
    def forward(self, x_t: torch.Tensor, t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """x0_hat [R, H] of noised targets x_t [R, H] at steps t [R] (int64) given history states [R, H]."""


class ResidualMLP(nn.Module):
    """Pre-LayerNorm residual feed-forward block: z + W2 dropout(GELU(W1 LN(z)))."""

    def __init__(self, hidden: int, expansion: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.ff = nn.Sequential(
            nn.Linear(hidden, expansion * hidden), nn.GELU(), Dropout(dropout), nn.Linear(expansion * hidden, hidden)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.ff(self.norm(z))


class MLPParams(Params):
    blocks: int = Field(2, ge=1, description="Residual feed-forward blocks after the input projection.")
    expansion: int = Field(4, ge=1, description="Width of each block's inner layer, in multiples of the hidden size.")


@register("denoiser", "mlp")
class MLPDenoiser(Denoiser):
    """Residual MLP on [x_t, h_i] projected to H plus the step embedding d_t; each row on its own.

    The state enters once, at the input, so the head is as cheap as two [R, H] x [H, 4H]
    products per block; the step embedding is the approximator's (sinusoid, then an MLP).
    The input weights of x_t start at zero: at most steps x_t is nearly pure noise next to
    the item embeddings, and at full weight from the start that noise drowned the state
    (validation NDCG@10 0.0258 after 10 Beauty epochs, docs/late-fusion.md); the head learns
    how much of x_t to use.
    """

    Params = MLPParams

    def __init__(self, hidden: int, steps: int, dropout: float, blocks: int = 2, expansion: int = 4) -> None:
        super().__init__()
        self.step_embedding = StepEmbedding(hidden, steps)
        self.input = nn.Linear(2 * hidden, hidden)
        self.blocks = nn.ModuleList(ResidualMLP(hidden, expansion, dropout) for _ in range(blocks))
        self.out_norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, hidden)

    def init_parameters(self) -> None:
        with torch.no_grad():
            self.input.weight[:, : self.out.in_features].zero_()

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        z = self.input(torch.cat([x_t, state.to(x_t.dtype)], dim=-1)) + self.step_embedding(t)
        for block in self.blocks:
            z = block(z)
        out: torch.Tensor = self.out(self.out_norm(z))
        return out


class FiLMParams(Params):
    blocks: int = Field(2, ge=1, description="Residual feed-forward blocks, each modulated by the state.")
    expansion: int = Field(4, ge=1, description="Width of each block's inner layer, in multiples of the hidden size.")


@register("denoiser", "film")
class FiLMDenoiser(Denoiser):
    """Residual MLP on x_t + d_t whose every block input is scaled and shifted by the state (FiLM).

    Where `mlp` mixes the state in once, here h_i sets a per-block gain (1 + gamma) and shift
    beta, so the history keeps its say at every depth. The modulation starts at zero (identity)
    and, as in `mlp`, so do the input weights of x_t (the state then enters through the shifts).
    """

    Params = FiLMParams

    def __init__(self, hidden: int, steps: int, dropout: float, blocks: int = 2, expansion: int = 4) -> None:
        super().__init__()
        self.step_embedding = StepEmbedding(hidden, steps)
        self.input = nn.Linear(hidden, hidden)
        self.film = nn.Linear(hidden, 2 * blocks * hidden)
        self.blocks = nn.ModuleList(ResidualMLP(hidden, expansion, dropout) for _ in range(blocks))
        self.out_norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, hidden)

    def init_parameters(self) -> None:
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        nn.init.zeros_(self.input.weight)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        z = self.input(x_t) + self.step_embedding(t)
        gains = self.film(state.to(x_t.dtype)).chunk(2 * len(self.blocks), dim=-1)
        for index, block in enumerate(self.blocks):
            z = block(z * (1.0 + gains[2 * index]) + gains[2 * index + 1])
        out: torch.Tensor = self.out(self.out_norm(z))
        return out
