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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recdiff import jsontext
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


def analyze_run(
    run_dir: str | Path,
    split: str = "test",
    checkpoint: str = "best",
    out: str | Path | None = None,
    points: int = 3000,
    plots: bool = True,
    overrides: Iterable[str] = (),
) -> dict[str, Any]:
    """Analyse a saved run on ``split``: group metrics in ``analysis.json`` and, with ``plots``, two PNGs.

    Returns:
        ``{"split", "groups": {"items": [...], "lengths": [...]}, "files": {...}}``.
    """
    from recdiff.evaluation.evaluate import limit_split, model_ranker, popularity_scores, rank_examples
    from recdiff.training.restore import load_run

    p = load_run(run_dir, checkpoint, overrides, split)
    e = p.spec.eval
    examples = limit_split(getattr(p.splits, split), e.max_users)
    reps: dict[int, np.ndarray] = {}

    def keep(batch: Any, batch_reps: torch.Tensor) -> None:
        reps.update(zip(batch.example.tolist(), batch_reps[0].cpu().numpy()))

    model = p.model.eval()
    rank = model_ranker([model], p.device, p.spec.train.precision, e.ensemble, e.item_chunk, keep)
    ranks = rank_examples(rank, p.data, examples, e.batch_size, p.device, p.spec.seed)
    counts = popularity_scores(p.data, examples).numpy()
    targets = p.data.items[examples.end] - 1
    groups = analyze_ranks(ranks, targets, examples.history_lengths(), counts, e.ks)
    folder = Path(out) if out is not None else Path(run_dir) / "analysis"
    folder.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "split": split,
        "checkpoint": checkpoint,
        "groups": {name: [row.to_dict() for row in rows] for name, rows in groups.items()},
        "files": {"analysis": str(folder / "analysis.json")},
    }
    if plots:
        from recdiff.evaluation.plots import plot_groups, plot_representations

        preferred: list[str] = ["hr@10", "ndcg@10"]
        shown = [m for m in preferred if m in groups["items"][0].metrics] or list(groups["items"][0].metrics)[:2]
        report["files"]["groups"] = str(plot_groups(groups, shown, folder / "groups.png", f"{p.spec.name}, {split}"))
        sample = np.random.default_rng(p.spec.seed).permutation(len(examples))[:points]
        matrix = np.stack([reps[int(examples.end[i])] for i in sample])
        head = head_items(counts)[targets[sample]]
        method = plot_representations(
            matrix, head, folder / "representations.png", f"{p.spec.name}: generated target representations", p.spec.seed
        )
        report["files"]["representations"] = str(folder / "representations.png")
        report["projection"] = method
    (folder / "analysis.json").write_text(jsontext.dumps(report, indent=2) + "\n")
    return report
