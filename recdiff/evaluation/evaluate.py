"""Evaluate a recommender (or the popularity baseline) on a split, ranking all items."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from recdiff import distributed
from recdiff.data import Batch, SequenceData, Split, make_batch
from recdiff.evaluation.metrics import RankingMetrics, target_ranks
from recdiff.evaluation.ranking import (
    DEFAULT_CHUNK,
    as_models,
    chunked_target_ranks,
    evaluating,
    excluded_rows,
    represent_all,
)
from recdiff.models.base import Recommender
from recdiff.nn.randomness import NoiseStream
from recdiff.progress import Reporter, task
from recdiff.runtime import autocast

RankFn = Callable[[Batch, NoiseStream], torch.Tensor]
"""Maps a batch on the device and its keyed noise to the rank [B] of each target (1 = best)."""


def limit_split(split: Split, max_users: int | None) -> Split:
    """The first ``max_users`` examples of ``split`` (all of them when None), as evaluation budgets it."""
    if max_users is None or max_users >= len(split):
        return split
    return Split(start=split.start[:max_users], end=split.end[:max_users])


def evaluation_batches(split: Split, batch_size: int) -> list[np.ndarray]:
    """Batches sorted by history length (less padding), in a fixed order so results are repeatable."""
    order = np.argsort(split.end - split.start, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.inference_mode()
def rank_examples(
    rank: RankFn,
    data: SequenceData,
    split: Split,
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: Reporter | None = None,
    description: str = "ranking",
) -> np.ndarray:
    """The target rank (1 = best) of every example of `split`, in split order.

    Each example's noise is keyed by (seed, example), so its rank does not depend on the batch
    size, the batch order, the other examples in its batch or the padding; the caller's random
    state is left alone. Given a `progress` reporter, each batch advances a task called `description`.

    Under torchrun each process ranks every world-size-th batch and all gather the ranks, so
    every process returns the ranks one process would have computed.
    """
    device = torch.device(device)
    ranks = np.zeros(len(split), dtype=np.int64)
    batches = evaluation_batches(split, batch_size)[distributed.rank() :: distributed.world_size()]
    with task(progress, description, len(batches)) as ranking:
        for index in batches:
            batch = make_batch(data, split, index).to(device, non_blocking=True)
            ranks[index] = rank(batch, NoiseStream.keyed(seed, batch.example)).cpu().numpy()
            ranking.advance()
    if distributed.world_size() > 1:
        ranked = np.concatenate([np.zeros(0, dtype=np.int64), *batches])
        for index, values in distributed.gather((ranked, ranks[ranked])):
            ranks[index] = values
    return ranks


def evaluate_ranks(
    rank: RankFn,
    data: SequenceData,
    split: Split,
    ks: list[int],
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
    seed: int = 0,
    max_users: int | None = None,
    progress: Reporter | None = None,
    description: str = "ranking",
) -> dict[str, float]:
    """Rank every real item for each example of `split` and return HR@K, NDCG@K and MRR (see `rank_examples`)."""
    metrics = RankingMetrics(ks)
    examples = limit_split(split, max_users)
    metrics.add(torch.from_numpy(rank_examples(rank, data, examples, batch_size, device, seed, progress, description)))
    return metrics.compute()


def model_ranker(
    models: Sequence[Recommender],
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    ensemble: int = 1,
    chunk: int = DEFAULT_CHUNK,
    keep: Callable[[Batch, torch.Tensor], None] | None = None,
    exclude_history: bool = False,
) -> RankFn:
    """The rank function of a model, or of an ensemble of trained models whose score distributions
    are averaged: each ``represent``s under the precision's autocast, then chunked fp32 ranking.

    Args:
        models: Each has ``represent(history, noise, ensemble) -> [S, B, H]``, ``scorer`` and
            ``item_table`` over the same catalogue.
        keep: Called with each batch and the first model's representations [S, B, H] (for
            analyses that need them).
        exclude_history: Rank the items of each example's history last (`model.exclude_history`).
    """
    def rank(batch: Batch, noise: NoiseStream) -> torch.Tensor:
        with autocast(device, precision):
            scored = represent_all(models, batch.history, noise, ensemble)
        if keep is not None:
            keep(batch, scored[0].reps)
        return chunked_target_ranks(scored, batch.target - 1, chunk, excluded_rows(batch.history, exclude_history))

    return rank


def evaluate_model(
    model: Recommender | Sequence[Recommender],
    data: SequenceData,
    split: Split,
    ks: list[int],
    *,
    precision: str = "fp32",
    ensemble: int = 1,
    chunk: int = DEFAULT_CHUNK,
    exclude_history: bool = False,
    **kwargs: Any,
) -> dict[str, float]:
    """Evaluate a model, or an ensemble of trained models, in eval mode (restoring their modes afterwards).

    Args:
        model: Has ``represent(history, noise, ensemble) -> [S, B, H]``, ``scorer`` and ``item_table``;
            a sequence of such models is ranked by their mean softmax distribution (see `model_ranker`).
        precision: ``fp32``, or ``bf16`` to run the model under bfloat16 autocast (scores stay fp32).
        ensemble: Independent reverse runs per example and model, their score distributions averaged.
        chunk: Items scored at once.
        exclude_history: Rank the items of each example's history last (`model.exclude_history`).
        kwargs: Passed to :func:`evaluate_ranks` (batch_size, device, seed, max_users, progress, description).
    """
    models = as_models(model)
    rank = model_ranker(models, kwargs.get("device", "cpu"), precision, ensemble, chunk, exclude_history=exclude_history)
    with evaluating(models):
        return evaluate_ranks(rank, data, split, ks, **kwargs)


def popularity_scores(data: SequenceData, split: Split) -> torch.Tensor:
    """Item counts [N] over the past of the users in ``split``, never counting one of its targets.

    A user's past is every interaction before that user's first target in the split (not
    cut to ``max_len``). With leave-one-out that is the whole history of each user's one
    example; with the temporal split, where a user may have several examples, it is what
    the user did before the split's period began. Users without an example add nothing.
    """
    users = split.users(data)
    cutoff = np.full(data.num_users, -1, dtype=np.int64)
    first = np.full(data.num_users, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, users, split.end)
    cutoff[users] = first[users]
    owner = np.repeat(np.arange(data.num_users), data.lengths())
    seen = np.arange(len(data.items)) < cutoff[owner]
    counts = np.bincount(data.items[seen], minlength=data.num_items + 1)[1:]
    return torch.from_numpy(counts.astype(np.float32))


def evaluate_popularity(
    data: SequenceData, split: Split, ks: list[int], batch_size: int = 1024, max_users: int | None = None
) -> dict[str, float]:
    """The most-popular-items baseline: every user gets the same ranking by interaction count."""
    counts = popularity_scores(data, split)
    return evaluate_ranks(
        lambda batch, noise: target_ranks(counts.expand(len(batch), -1), batch.target - 1),
        data, split, ks, batch_size, max_users=max_users,
    )
