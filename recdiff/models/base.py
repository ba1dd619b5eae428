"""What every model family offers the trainer and the evaluation code, so both can rely on it."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from recdiff.nn.losses import FullSoftmax, Loss
from recdiff.nn.randomness import NoiseStream
from recdiff.nn.scorers import Scorer


class Recommender(nn.Module, ABC):
    """Base class of the `model` kind: a trainable loss, and representations ranked by a scorer.

    Evaluation ranks every item by ``scorer(represent(history, noise, ensemble)[s], item_table)``,
    so any model with these members is trained, evaluated and served by the same code.
    """

    scorer: Scorer
    """Scores representations [B, H] against the item table [N, H]."""

    default_loss_scorer: Scorer | None = None
    """The family's own scorer of the training loss; None trains with `scorer` itself (see `training_scorer`)."""

    loss_scorer: Scorer | None
    """The spec's scorer of the training loss (`model.loss_scorer`), which replaces the family's own when set."""

    supervises_every_position: bool = False
    """True when the model is trained on each user's longest training sequence instead of every prefix."""

    def set_objective(
        self,
        num_items: int,
        objective: Loss | None,
        label_smoothing: float,
        mask_history_in_loss: bool,
        loss_scorer: Scorer | None = None,
    ) -> None:
        """The catalogue size and the training loss with its settings, which every family keeps alike.

        ``loss_scorer`` replaces the family's own training scorer (`default_loss_scorer`) when given.
        One with parameters (`learned_cosine`) becomes a submodule here, so the optimiser trains it
        and checkpoints keep it.
        """
        self.num_items = num_items
        self.objective = FullSoftmax(None) if objective is None else objective
        self.label_smoothing = label_smoothing
        self.mask_history_in_loss = mask_history_in_loss
        self.loss_scorer = loss_scorer

    @property
    def training_scorer(self) -> Scorer:
        """What the training loss scores with: `loss_scorer`, else the family's default, else the ranking `scorer`."""
        if self.loss_scorer is not None:
            return self.loss_scorer
        return self.scorer if self.default_loss_scorer is None else self.default_loss_scorer

    @property
    @abstractmethod
    def item_table(self) -> torch.Tensor:
        """Embeddings of the real items [N, H] (row i is item id i + 1)."""

    @abstractmethod
    def loss(self, history: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar training loss of left-padded histories [B, L] and their next items [B]."""

    def loss_terms(self, history: torch.Tensor) -> int:
        """How many terms `loss` averages over for histories [B, L]: one per example here.

        Data-parallel training weights each process's mean loss by its share of the terms, so
        the averaged gradient is that of the whole batch's mean.
        """
        return len(history)

    @abstractmethod
    def represent(self, history: torch.Tensor, noise: NoiseStream | None = None, ensemble: int = 1) -> torch.Tensor:
        """Representations [ensemble, B, H] in fp32 of histories [B, L], noise drawn from ``noise``."""
