"""Scorers ("rounding"): map the generated x_0 to a score for every item."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch.nn import functional as F

from recdiff.registry import register


class Scorer(ABC):
    """Scores items for each generated representation; higher ranks first."""

    @abstractmethod
    def __call__(self, x0: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """x0 [B, H], items [N, H] -> scores [B, N]."""


@register("scorer", "dot")
class DotScorer(Scorer):
    """Inner product x_0 . e_i, as DiffuRec rounds."""

    def __call__(self, x0: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return x0 @ items.T


@register("scorer", "neg_l2")
class NegL2Scorer(Scorer):
    """Negative squared Euclidean distance -||x_0 - e_i||^2 (nearest item ranks first)."""

    def __call__(self, x0: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return 2 * x0 @ items.T - x0.pow(2).sum(-1, keepdim=True) - items.pow(2).sum(-1)[None, :]


@register("scorer", "cosine")
class CosineScorer(Scorer):
    """Cosine similarity between x_0 and each item embedding."""

    def __call__(self, x0: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return F.normalize(x0, dim=-1) @ F.normalize(items, dim=-1).T
