"""Evaluate a recommender (or the popularity baseline) on a split, ranking all items."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from recdiff.data import SequenceData, Split, make_batch
from recdiff.evaluation.metrics import RankingMetrics, target_ranks

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


def _limit(split: Split, max_users: int | None) -> Split:
    if max_users is None or max_users >= len(split):
        return split
    return Split(start=split.start[:max_users], end=split.end[:max_users])


def evaluation_batches(split: Split, batch_size: int) -> list[np.ndarray]:
    """Batches sorted by history length (less padding), in a fixed order so results are repeatable."""
    order = np.argsort(split.end - split.start, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.inference_mode()
def evaluate_scores(
    score: ScoreFn,
    data: SequenceData,
    split: Split,
    ks: list[int],
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
    seed: int = 0,
    max_users: int | None = None,
) -> dict[str, float]:
    """Rank every real item for each example of `split` and return HR@K, NDCG@K and MRR.

    Args:
        score: Maps left-padded histories [B, L] to scores [B, N] (column i = item id i + 1).
        seed: Seeds the sampler's noise, without disturbing the caller's random state.
    """
    split = _limit(split, max_users)
    device = torch.device(device)
    metrics = RankingMetrics(ks)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for index in evaluation_batches(split, batch_size):
            batch = make_batch(data, split, index).to(device, non_blocking=True)
            metrics.add(target_ranks(score(batch.history), batch.target - 1))
    return metrics.compute()


def evaluate_model(model: torch.nn.Module, data: SequenceData, split: Split, ks: list[int], **kwargs: object) -> dict[str, float]:
    """Evaluate a model in eval mode (restoring its previous mode afterwards)."""
    was_training = model.training
    model.eval()
    try:
        return evaluate_scores(model, data, split, ks, **kwargs)  # type: ignore[arg-type]
    finally:
        model.train(was_training)


def popularity_scores(data: SequenceData, split: Split) -> torch.Tensor:
    """Item counts [N] over the past of the users in ``split``, never counting one of its targets.

    A user's past is every interaction before that user's first target in the split (not
    cut to ``max_len``). With leave-one-out that is the whole history of each user's one
    example; with the temporal split, where a user may have several examples, it is what
    the user did before the split's period began. Users without an example add nothing.
    """
    users = np.searchsorted(data.offsets, split.end, side="right") - 1
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
    return evaluate_scores(
        lambda history: counts.expand(history.shape[0], -1), data, split, ks, batch_size, max_users=max_users
    )
