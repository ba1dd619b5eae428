"""Approximator backbones: read the (conditioned) history and return a representation per position."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Literal

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
    sees_padding: bool = False
    """True when padding positions take part in the computation (the model then pads every
    history to max_len and learns the padding row like an item)."""

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
    """Pre-LayerNorm block: self-attention then a 4x GELU feed-forward, each with dropout and a residual.

    With ``block_dropout`` the block's output (residual stream included) goes through dropout
    once more, as every block of the original DiffuRec code does.
    """

    def __init__(self, hidden: int, heads: int, dropout: float, ff_mult: int, block_dropout: bool = False) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(hidden)
        self.attention = MultiHeadAttention(hidden, heads, dropout)
        self.ff_norm = nn.LayerNorm(hidden)
        self.ff = nn.Sequential(
            nn.Linear(hidden, ff_mult * hidden), nn.GELU(), Dropout(dropout), nn.Linear(ff_mult * hidden, hidden)
        )
        self.dropout = Dropout(dropout)
        self.output_dropout = Dropout(dropout) if block_dropout else nn.Identity()

    def forward(
        self,
        h: torch.Tensor,
        attn_mask: torch.Tensor | None,
        queries: int | None = None,
        blank: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """h [B, L, H] -> [B, L, H], or only the last ``queries`` positions [B, queries, H].

        ``blank`` [B, L] marks queries that attend uniformly to every key (visible padding).
        """
        x = self.attention_norm(h)
        query = x
        if queries is not None:
            h, query = h[:, -queries:], x[:, -queries:]
            attn_mask = None if attn_mask is None else attn_mask[:, :, -queries:]
            blank = None if blank is None else blank[:, -queries:]
        h = h + self.dropout(self.attention(query, x, attn_mask, blank))
        return self.output_dropout(h + self.dropout(self.ff(self.ff_norm(h))))


class TransformerParams(Params):
    blocks: int = Field(4, ge=1, description="Number of Transformer blocks.")
    heads: int = Field(4, ge=1, description="Attention heads per block (must divide the hidden size).")
    ff_mult: int = Field(4, ge=1, description="Feed-forward width as a multiple of the hidden size.")
    causal: bool = Field(False, description="Let each position attend only to earlier positions.")
    padding: Literal["masked", "visible"] = Field(
        "masked",
        description="`masked`: padding keys are hidden from every query, so outputs do not depend on padding. "
        "`visible` (the original DiffuRec code): every history is padded to max_len, real positions attend to "
        "the padding too (which tells the model the history length), padding queries attend uniformly, and the "
        "padding row is learned like an item.",
    )
    block_dropout: bool = Field(
        False, description="Dropout on each block's output, residual stream included (the original DiffuRec code)."
    )
    chained: bool = Field(
        True,
        description="Feed each block the previous block's output. False feeds every block the backbone's input, "
        "as the public DiffuRecSys code does, so only the last block reaches the output (the others are "
        "skipped: their outputs would be discarded).",
    )
    checkpoint: bool = Field(
        False,
        description="In training, recompute each block's activations during the backward pass instead of "
        "keeping them: far less memory for about a third more compute.",
    )


@register("backbone", "transformer")
class Transformer(Backbone):
    """Pre-LN Transformer encoder over the history (DiffuRec's approximator); see the parameters for padding."""

    Params = TransformerParams

    def __init__(
        self,
        hidden: int,
        dropout: float,
        blocks: int = 4,
        heads: int = 4,
        ff_mult: int = 4,
        causal: bool = False,
        padding: str = "masked",
        block_dropout: bool = False,
        chained: bool = True,
        checkpoint: bool = False,
    ) -> None:
        super().__init__()
        if causal and padding == "visible":
            raise ValueError("padding 'visible' is the original DiffuRec approximator's and needs causal: false")
        self.num_blocks = blocks
        self.causal = causal
        self.sees_padding = padding == "visible"
        self.chained = chained
        self.checkpoint = checkpoint
        self.blocks = nn.ModuleList(
            TransformerBlock(hidden, heads, dropout, ff_mult, block_dropout) for _ in range(blocks)
        )

    def attention_mask(self, mask: torch.Tensor) -> torch.Tensor | None:
        """Boolean mask broadcastable to [B, 1, L, L]: real keys only (and earlier ones when causal);
        None with visible padding, where every key is seen.

        In causal mode a padding query would see no key at all, so every position may always
        see itself; real queries are unaffected.
        """
        if self.sees_padding:
            return None
        if not self.causal:
            return mask[:, None, None, :]
        length = mask.shape[1]
        earlier = torch.ones(length, length, dtype=torch.bool, device=mask.device).tril()
        itself = torch.eye(length, dtype=torch.bool, device=mask.device)
        return ((mask[:, None, :] & earlier) | itself)[:, None]

    def forward(self, h: torch.Tensor, mask: torch.Tensor, condition: Condition) -> torch.Tensor:
        return self._blocks(h, mask, condition, None)

    def last(self, h: torch.Tensor, mask: torch.Tensor, condition: Condition) -> torch.Tensor:
        return self._blocks(h, mask, condition, 1)[:, 0]

    def _blocks(self, h: torch.Tensor, mask: torch.Tensor, condition: Condition, last_queries: int | None) -> torch.Tensor:
        """Run the blocks in order, the last one for only ``last_queries`` queries when given.

        Unchained, every block would read ``h`` and all but the last output would be discarded,
        so only the last block runs.
        """
        attn_mask, blank = self.attention_mask(mask), (~mask if self.sees_padding else None)
        indexed = list(enumerate(self.blocks)) if self.chained else [(self.num_blocks - 1, self.blocks[-1])]
        for position, (index, block) in enumerate(indexed):
            queries = last_queries if position == len(indexed) - 1 else None
            h = self._run(block, condition(index, h), attn_mask, queries, blank)
        return h

    def _run(
        self,
        block: nn.Module,
        h: torch.Tensor,
        attn_mask: torch.Tensor | None,
        queries: int | None = None,
        blank: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One block, checkpointed when asked. Only the block is recomputed, never the conditioning:
        its noise stream counts draws, so a second call would draw other noise."""
        if self.checkpoint and self.training and torch.is_grad_enabled():
            return checkpoint(block, h, attn_mask, queries, blank, use_reentrant=False)
        return block(h, attn_mask, queries, blank)


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
