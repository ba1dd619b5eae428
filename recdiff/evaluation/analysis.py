"""RQ3-style analysis: where a model wins, by item popularity and by history length.

The DiffuRecSys paper splits test examples by whether their target is a head item (the 20%
most frequent) or a long-tail item, and by sequence-length group, and reports the metrics of
each group. Frequencies are counted over the users' past (what the model could have seen,
never a target of the split), and length groups are quintile ranges of the history length, so
every group is a range of lengths (groups can differ in size where many histories share one
length).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from recdiff.evaluation.metrics import RankingMetrics

HEAD_SHARE = 0.2
"""Share of items, the most frequent first, that count as head items."""
LENGTH_GROUPS = 5


def head_items(counts: np.ndarray, share: float = HEAD_SHARE) -> np.ndarray:
    """Bool [N]: True for the ``ceil(share * N)`` most frequent items (equal counts: lower id first)."""
    order = np.argsort(-np.asarray(counts), kind="stable")
    head = np.zeros(len(counts), dtype=bool)
    head[order[: math.ceil(share * len(counts))]] = True
    return head


def length_groups(lengths: np.ndarray, groups: int = LENGTH_GROUPS) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Group index [n] of each history length, and each group's (shortest, longest) length.

    Group g holds the lengths in (q_g, q_{g+1}] between consecutive quantiles q of ``lengths``
    (the first group from the minimum); quantiles that coincide merge their groups, so there
    may be fewer than ``groups``.
    """
    lengths = np.asarray(lengths)
    edges = np.unique(np.quantile(lengths, np.linspace(0, 1, groups + 1)[1:-1], method="lower"))
    index = np.searchsorted(edges, lengths, side="left")
    used = np.unique(index)
    index = np.searchsorted(used, index)
    ranges = [(int(lengths[index == g].min()), int(lengths[index == g].max())) for g in range(len(used))]
    return index, ranges


@dataclass(frozen=True)
class GroupMetrics:
    """Metrics of one group of examples."""

    name: str
    count: int
    metrics: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.name, "count": self.count, **self.metrics}


def group_metrics(ranks: np.ndarray, groups: np.ndarray, names: list[str], ks: list[int]) -> list[GroupMetrics]:
    """HR@K, NDCG@K and MRR of the examples in each group (``groups[i]`` indexes ``names``)."""
    result = []
    for g, name in enumerate(names):
        selected = ranks[groups == g]
        if len(selected) == 0:
            result.append(GroupMetrics(name, 0, {}))
            continue
        metrics = RankingMetrics(ks)
        metrics.add(torch.from_numpy(selected))
        result.append(GroupMetrics(name, len(selected), metrics.compute()))
    return result


def analyze_ranks(
    ranks: np.ndarray, targets: np.ndarray, lengths: np.ndarray, counts: np.ndarray, ks: list[int]
) -> dict[str, list[GroupMetrics]]:
    """Head / long-tail and length-group metrics.

    Args:
        ranks: int [n], each example's target rank (1 = best).
        targets: int [n], each target's column in ``counts`` (item id - 1).
        lengths: int [n], each example's history length.
        counts: [N] past interaction count of every item.
        ks: Cut-offs.
    """
    head = head_items(counts)
    by_item = group_metrics(ranks, (~head[targets]).astype(int), ["head (top 20% items)", "long tail"], ks)
    index, ranges = length_groups(lengths)
    names = [f"length {lo}" if lo == hi else f"length {lo}-{hi}" for lo, hi in ranges]
    return {"items": by_item, "lengths": group_metrics(ranks, index, names, ks)}
