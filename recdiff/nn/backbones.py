"""Approximator backbones: read the (conditioned) history and return a representation per position."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from pydantic import Field
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.utils.checkpoint import checkpoint

from recdiff.nn.layers import Dropout, MultiHeadAttention
from recdiff.registry import Params, register

Condition = Callable[[int, torch.Tensor], torch.Tensor]


class Backbone(nn.Module, ABC):
    """Base class. `num_blocks` tells conditioning blocks how many per-block hooks to expect."""

    num_blocks: int

    def init_parameters(self) -> None:
        """Called after the model's global initialisation; override to initialise differently."""

    @abstractmethod
    def forward(self, h: torch.Tensor, mask: torch.Tensor, condition: Condition) -> torch.Tensor:
        """h [B, L, H] left-padded, mask [B, L] True on real items -> [B, L, H]."""

    def last(self, h: torch.Tensor, mask: torch.Tensor, condition: Condition) -> torch.Tensor:
        """The newest position's output [B, H], all the diffusion model reads.

        Override when that is cheaper than the whole output (the Transformer's last block
        then needs one query per sequence, not L).
        """
        return self.forward(h, mask, condition)[:, -1]


class TransformerBlock(nn.Module):
    """Pre-LayerNorm block: self-attention then a 4x GELU feed-forward, each with dropout and a residual."""

    def __init__(self, hidden: int, heads: int, dropout: float, ff_mult: int) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(hidden)
        self.attention = MultiHeadAttention(hidden, heads, dropout)
        self.ff_norm = nn.LayerNorm(hidden)
        self.ff = nn.Sequential(
            nn.Linear(hidden, ff_mult * hidden), nn.GELU(), Dropout(dropout), nn.Linear(ff_mult * hidden, hidden)
        )
        self.dropout = Dropout(dropout)

    def forward(self, h: torch.Tensor, attn_mask: torch.Tensor, queries: int | None = None) -> torch.Tensor:
        """h [B, L, H] -> [B, L, H], or only the last ``queries`` positions [B, queries, H]."""
        x = self.attention_norm(h)
        query = x
        if queries is not None:
            h, query, attn_mask = h[:, -queries:], x[:, -queries:], attn_mask[:, :, -queries:]
        h = h + self.dropout(self.attention(query, x, attn_mask))
        return h + self.dropout(self.ff(self.ff_norm(h)))


class TransformerParams(Params):
    blocks: int = Field(4, ge=1, description="Number of Transformer blocks.")
    heads: int = Field(4, ge=1, description="Attention heads per block (must divide the hidden size).")
    ff_mult: int = Field(4, ge=1, description="Feed-forward width as a multiple of the hidden size.")
    causal: bool = Field(False, description="Let each position attend only to earlier positions.")
    checkpoint: bool = Field(
        False,
        description="In training, recompute each block's activations during the backward pass instead of "
        "keeping them: far less memory for about a third more compute.",
    )


@register("backbone", "transformer")
class Transformer(Backbone):
    """Pre-LN Transformer encoder over the history, padding keys masked (DiffuRec's approximator)."""

    Params = TransformerParams

    def __init__(
        self,
        hidden: int,
        dropout: float,
        blocks: int = 4,
        heads: int = 4,
        ff_mult: int = 4,
        causal: bool = False,
        checkpoint: bool = False,
    ) -> None:
        super().__init__()
        self.num_blocks = blocks
        self.causal = causal
        self.checkpoint = checkpoint
        self.blocks = nn.ModuleList(TransformerBlock(hidden, heads, dropout, ff_mult) for _ in range(blocks))

    def attention_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Boolean mask broadcastable to [B, 1, L, L]: real keys only (and earlier ones when causal).

        In causal mode a padding query would see no key at all, so every position may always
        see itself; real queries are unaffected.
        """
        if not self.causal:
            return mask[:, None, None, :]
        length = mask.shape[1]
        earlier = torch.ones(length, length, dtype=torch.bool, device=mask.device).tril()
        itself = torch.eye(length, dtype=torch.bool, device=mask.device)
        return ((mask[:, None, :] & earlier) | itself)[:, None]

    def forward(self, h: torch.Tensor, mask: torch.Tensor, condition: Condition) -> torch.Tensor:
        attn_mask = self.attention_mask(mask)
        for index, block in enumerate(self.blocks):
            h = self._run(block, condition(index, h), attn_mask)
        return h

    def last(self, h: torch.Tensor, mask: torch.Tensor, condition: Condition) -> torch.Tensor:
        attn_mask = self.attention_mask(mask)
        *early, final = self.blocks
        for index, block in enumerate(early):
            h = self._run(block, condition(index, h), attn_mask)
        return self._run(final, condition(len(early), h), attn_mask, 1)[:, 0]

    def _run(
        self, block: TransformerBlock, h: torch.Tensor, attn_mask: torch.Tensor, queries: int | None = None
    ) -> torch.Tensor:
        """One block, checkpointed when asked. Only the block is recomputed, never the conditioning:
        its noise stream counts draws, so a second call would draw other noise."""
        if self.checkpoint and self.training and torch.is_grad_enabled():
            return checkpoint(block, h, attn_mask, queries, use_reentrant=False)  # type: ignore[no-any-return]
        return block(h, attn_mask, queries)


class GRUParams(Params):
    layers: int = Field(2, ge=1, description="Stacked GRU layers (each is one block for conditioning).")


def _shift_rows(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Roll each row b of x [B, L, H] left by shift[b] positions."""
    length = x.shape[1]
    index = (torch.arange(length, device=x.device)[None, :] + shift[:, None]) % length
    return x.gather(1, index[..., None].expand_as(x))


@register("backbone", "gru")
class GRU(Backbone):
    """Multi-layer GRU over the history; padding is skipped with packed sequences."""

    Params = GRUParams

    def __init__(self, hidden: int, dropout: float, layers: int = 2) -> None:
        super().__init__()
        self.num_blocks = layers
        self.layers = nn.ModuleList(nn.GRU(hidden, hidden, batch_first=True) for _ in range(layers))
        self.dropout = Dropout(dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor, condition: Condition) -> torch.Tensor:
        lengths = mask.sum(1)
        padding = h.shape[1] - lengths
        for index, layer in enumerate(self.layers):
            h = condition(index, h)
            packed = pack_padded_sequence(
                _shift_rows(h, padding), lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            out, _ = pad_packed_sequence(layer(packed)[0], batch_first=True, total_length=h.shape[1])
            h = self.dropout(_shift_rows(out, -padding))
        return h
