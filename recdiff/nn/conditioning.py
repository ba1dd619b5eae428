"""Conditioning blocks: how the noised target x_t (plus step embedding d) meets the history."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from recdiff.nn.layers import Dropout, MultiHeadAttention
from recdiff.nn.randomness import NoiseStream
from recdiff.registry import Params, register


class ConditioningBlock(nn.Module):
    """Base class: by default it leaves the history unchanged both before and inside the backbone.

    Subclasses override `forward` (applied once, before the backbone), `before_block`
    (applied before every backbone block), or both. A block that needs randomness draws it
    from `noise`, never from the global generator, so that a user's scores do not depend on
    the batch they are evaluated in (see :mod:`recdiff.nn.randomness`).
    """

    def init_parameters(self) -> None:
        """Called after the model's global initialisation; override to initialise differently."""

    def forward(
        self, history: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, noise: NoiseStream
    ) -> torch.Tensor:
        """history [B, L, H], target `x + d` [B, H], mask [B, L] (True on real items) -> [B, L, H]."""
        return history

    def before_block(
        self, index: int, hidden: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, noise: NoiseStream
    ) -> torch.Tensor:
        """Called before backbone block `index` with its input hidden [B, L, H]; returns [B, L, H]."""
        return hidden


class _Uncertainty(Params):
    delta: float = Field(0.001, ge=0.0, description="Mean and standard deviation of the uncertainty scale lambda.")


def _lambda(noise: NoiseStream, like: torch.Tensor, delta: float) -> torch.Tensor:
    """lambda ~ N(delta, delta) elementwise, shaped like `like` ([B, H] or [B, L, H]), in one draw for the batch."""
    if like.dim() == 3:
        draw = noise.normal_sequence(like.shape[1], like.shape[2], like.dtype)
    else:
        draw = noise.normal(like.shape[1], like.dtype)
    return delta + delta * draw


@register("conditioning", "additive")
class Additive(ConditioningBlock):
    """DiffuRec: z_i = e_i + lambda_i * (x + d) at every history position, lambda_i ~ N(delta, delta)."""

    Params = _Uncertainty

    def __init__(self, hidden: int, num_blocks: int, dropout: float, delta: float = 0.001) -> None:
        super().__init__()
        self.delta = delta

    def forward(
        self, history: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, noise: NoiseStream
    ) -> torch.Tensor:
        return history + _lambda(noise, history, self.delta) * target.unsqueeze(1)


class CrossAttentionParams(_Uncertainty):
    heads: int = Field(4, ge=1, description="Attention heads of each cross-attention layer.")


@register("conditioning", "cross_attention")
class CrossAttention(ConditioningBlock):
    """DiffuRecSys: in every block, lambda * (x + d) queries the history; the result is added to every position."""

    Params = CrossAttentionParams

    def __init__(self, hidden: int, num_blocks: int, dropout: float, delta: float = 0.001, heads: int = 4) -> None:
        super().__init__()
        self.delta = delta
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(num_blocks))
        self.attention = nn.ModuleList(MultiHeadAttention(hidden, heads, dropout) for _ in range(num_blocks))
        self.dropout = Dropout(dropout)

    def before_block(
        self, index: int, hidden: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, noise: NoiseStream
    ) -> torch.Tensor:
        query = (_lambda(noise, target, self.delta) * target).unsqueeze(1)
        keys = self.norms[index](hidden)
        attended = self.attention[index](query, keys, mask[:, None, None, :])
        return hidden + self.dropout(attended)
