"""Full-ranking metrics: HR@K, NDCG@K and MRR from the rank of each target among all items."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def target_ranks(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The number of items scored at least as high as the target, itself included (ties never help).

    A target tied with k other items ranks below all of them: 1 + #higher + k. A NaN target
    score ranks last.

    Args:
        scores: [B, N] scores of every real item.
        target: [B] column index of each target in `scores`.
    """
    target_score = scores.gather(1, target[:, None])
    return ((scores >= target_score) | target_score.isnan()).sum(dim=1)


class RankingMetrics:
    """Accumulates target ranks over batches and reports HR@K, NDCG@K and MRR."""

    def __init__(self, ks: Iterable[int]) -> None:
        self.ks = sorted(ks)
        self._ranks: list[torch.Tensor] = []

    def add(self, ranks: torch.Tensor) -> None:
        """Record ranks [B] (1 = best)."""
        self._ranks.append(ranks.detach().cpu())

    @property
    def count(self) -> int:
        return sum(len(r) for r in self._ranks)

    def compute(self) -> dict[str, float]:
        """Mean metrics over everything added, keyed `hr@K`, `ndcg@K`, `mrr`."""
        if not self._ranks:
            raise ValueError("no ranks were added")
        ranks = torch.cat(self._ranks).double()
        result: dict[str, float] = {}
        for k in self.ks:
            hit = ranks <= k
            result[f"hr@{k}"] = hit.double().mean().item()
            result[f"ndcg@{k}"] = torch.where(hit, math.log(2) / torch.log(ranks + 1), 0.0).mean().item()
        result["mrr"] = (1.0 / ranks).mean().item()
        return result
