"""SASRec: the approximator's Transformer as a plain next-item classifier, the non-diffusion baseline.

Kang and McAuley (ICDM 2018) with full cross-entropy over all items instead of sampled
negatives: causal self-attention over the history, and every real position predicts the item
that follows it. It shares the item table, backbone, scorer and evaluation code path with the
diffusion models, so a comparison differs only in the model.
"""

from __future__ import annotations

import torch
from torch import nn

from recdiff.models.base import Recommender
from recdiff.models.embedding import ItemEmbeddings
from recdiff.nn.backbones import Backbone
from recdiff.nn.layers import Dropout
from recdiff.nn.losses import Loss
from recdiff.nn.randomness import NoiseStream
from recdiff.nn.scorers import Scorer


def next_items(
    history: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, with_seen: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The label of every real position and, when asked, the items each has seen: what every-position training needs.

    Args:
        history: Left-padded ids [B, L].
        target: The item after each history's last one [B].
        mask: True on real positions [B, L].
        with_seen: Also return the seen items, for ``mask_history_in_loss``.

    Returns:
        Item rows [P] (position i's label is item i + 1, the last one's the target) of the P real
        positions in row-major order, and their seen item rows [P, L] (negative = none) or None.
    """
    labels = torch.cat([history[:, 1:], target[:, None]], dim=1)[mask] - 1
    if not with_seen:
        return labels, None
    # position i has seen the items at positions <= i of its own sequence
    earlier = torch.ones(history.shape[1], history.shape[1], dtype=torch.bool, device=history.device).tril()
    return labels, torch.where(earlier[None], history[:, None, :], 0)[mask] - 1


class SASRec(ItemEmbeddings, Recommender):
    """Next-item classifier over left-padded histories; `represent` is the newest position's output.

    Args:
        num_items: Real items; ids are 1..num_items, id 0 is padding.
        hidden: Embedding and backbone width H.
        max_len: Longest history (size of the positional table).
        backbone: Built backbone; it should be causal, or every position would see its own target.
        scorer: Scores representations against the item table (the inner product in SASRec).
        dropout: Dropout on the backbone output.
        emb_dropout: Dropout on history embeddings.
        positional: Whether learned positional embeddings are added (SASRec's default).
        label_smoothing: Share of each label's probability spread over all items in the loss.
        mask_history_in_loss: Leave seen items out of the training softmax.
        objective: The training loss over the item table (the whole softmax when None).
        loss_scorer: Scorer of the training loss in place of the family's own (see `default_loss_scorer`).
    """

    supervises_every_position = True
    """Trained on each user's longest training sequence, every position predicting the next item."""

    def __init__(
        self,
        num_items: int,
        hidden: int,
        max_len: int,
        backbone: Backbone,
        scorer: Scorer,
        dropout: float = 0.1,
        emb_dropout: float = 0.3,
        positional: bool = True,
        label_smoothing: float = 0.0,
        mask_history_in_loss: bool = False,
        objective: Loss | None = None,
        loss_scorer: Scorer | None = None,
    ) -> None:
        super().__init__()
        self.set_objective(num_items, objective, label_smoothing, mask_history_in_loss, loss_scorer)
        self.add_embeddings(num_items, hidden, max_len, positional, emb_dropout)
        self.backbone = backbone
        self.out_dropout = Dropout(dropout)
        self.out_norm = nn.LayerNorm(hidden)
        self.scorer = scorer

    def loss(self, history: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over all items at every real position; position i's label is item i + 1.

        history [B, L] left-padded, target [B] the item after the last one. Logits are made only
        for real positions, so padding costs no item-table product.
        """
        h, mask = self.encode(history)
        out = self.out_norm(self.out_dropout(self.backbone(h, mask, lambda index, hidden: hidden)))
        labels, seen = next_items(history, target, mask, self.mask_history_in_loss)
        return self.objective(out[mask], self.item_table, labels, self.training_scorer, seen, self.label_smoothing)

    def loss_terms(self, history: torch.Tensor) -> int:
        """One term per real position: `loss` averages over every position of every history."""
        return int((history != 0).sum())

    def represent(self, history: torch.Tensor, noise: NoiseStream | None = None, ensemble: int = 1) -> torch.Tensor:
        """The newest position's output [1, B, H]: the model is deterministic, so an ensemble is one run."""
        h, mask = self.encode(history)
        out = self.backbone.last(h, mask, lambda index, hidden: hidden)
        return self.out_norm(self.out_dropout(out)).float()[None]

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """Scores [B, N] of every real item (column i is item id i + 1), in fp32."""
        return self.scorer(self.represent(history)[0], self.item_table.float())
