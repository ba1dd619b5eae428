"""The item and position tables both model families embed histories with, written once."""

from __future__ import annotations

import torch
from torch import nn

from recdiff.nn.layers import Dropout, embed_history


class ItemEmbeddings:
    """Mixin of the model families: the item table (row 0 is padding), positions, and embedding a history.

    The attribute names are those of every saved checkpoint, so they must not change.
    """

    item_embedding: nn.Embedding
    position_embedding: nn.Embedding | None
    emb_dropout: nn.Module
    emb_norm: nn.Module

    def add_embeddings(
        self, num_items: int, hidden: int, max_len: int, positional: bool, emb_dropout: float, padding_idx: int | None = 0
    ) -> None:
        """Create the tables, in this order: it fixes the draws of their default initialisation.

        Args:
            padding_idx: 0 keeps the padding row at zero and out of training; None learns it like
                an item (for components that read padding).
        """
        self.item_embedding = nn.Embedding(num_items + 1, hidden, padding_idx=padding_idx)
        self.position_embedding = nn.Embedding(max_len, hidden) if positional else None
        self.emb_dropout = Dropout(emb_dropout)
        self.emb_norm = nn.LayerNorm(hidden)

    @property
    def item_table(self) -> torch.Tensor:
        """Embeddings of the real items [N, H] (padding excluded: it is never ranked or predicted)."""
        return self.item_embedding.weight[1:]

    def encode(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """history [B, L] left-padded ids -> embeddings [B, L, H] and mask [B, L] (True on real items)."""
        return embed_history(history, self.item_embedding, self.position_embedding, self.emb_dropout, self.emb_norm)
