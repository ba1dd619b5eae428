"""Batches of left-padded histories, and the order in which examples form batches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from recdiff.data.sequences import SequenceData
from recdiff.data.splits import Split

BUCKET_BATCHES = 50
"""Batches per bucketing chunk: large enough to find similar lengths, small enough to stay random."""


@dataclass
class Batch:
    """One batch of examples.

    Attributes:
        history: int64 [B, L], item ids LEFT-padded with 0, so the newest item is always at
            ``L - 1``; ``L`` is the longest history in this batch, not ``max_len``.
        target: int64 [B], the item to predict.
        example: int64 [B], the position of each target in ``SequenceData.items``: a name
            for the example that does not depend on batching (evaluation keys its noise on it).
    """

    history: torch.Tensor
    target: torch.Tensor
    example: torch.Tensor

    def __len__(self) -> int:
        return len(self.target)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """The batch on ``device`` (a new Batch; this one is unchanged).

        With ``non_blocking`` to a CUDA device the tensors are first pinned, so the copy really
        overlaps with the GPU's work (from pageable memory it would wait).
        """
        pin = non_blocking and torch.device(device).type == "cuda"

        def move(tensor: torch.Tensor) -> torch.Tensor:
            return (tensor.pin_memory() if pin else tensor).to(device, non_blocking=non_blocking)

        return Batch(history=move(self.history), target=move(self.target), example=move(self.example))


def make_batch(data: SequenceData, split: Split, index: np.ndarray) -> Batch:
    """Gather the examples ``index`` of ``split`` into one left-padded batch.

    Args:
        data: The sequences the split points into.
        split: The split.
        index: int [B], positions of the examples in ``split``.

    Returns:
        The batch, on the CPU.
    """
    start = split.start[index]
    end = split.end[index]
    width = int((end - start).max(initial=0))
    positions = end[:, None] - width + np.arange(width)
    history = data.items[np.maximum(positions, start[:, None])]
    history[positions < start[:, None]] = 0
    return Batch(
        history=torch.from_numpy(history), target=torch.from_numpy(data.items[end]), example=torch.from_numpy(end)
    )


def batch_indices(
    split: Split, batch_size: int, *, shuffle: bool, bucket: bool, generator: np.random.Generator | None
) -> list[np.ndarray]:
    """Cut the examples of ``split`` into batches of example positions.

    Without ``shuffle`` the batches are consecutive (``bucket`` is ignored), as evaluation
    wants. With ``shuffle`` the examples are permuted; with ``bucket`` too, each chunk of
    ``BUCKET_BATCHES`` batches is sorted by history length before it is cut, and the batch
    order is shuffled, so batches hold similar lengths and need less padding.

    Args:
        split: The split whose examples are batched.
        batch_size: Examples per batch (the last batch may be smaller).
        shuffle: Whether to randomise the order.
        bucket: Whether to group examples of similar history length (only with ``shuffle``).
        generator: Source of randomness; required with ``shuffle``, so that the order of an
            epoch can be reproduced.

    Returns:
        int64 arrays [<= batch_size], together covering every example exactly once.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    count = len(split)
    if count == 0:
        return []
    cuts = range(batch_size, count, batch_size)
    if not shuffle:
        return np.split(np.arange(count, dtype=np.int64), cuts)
    if generator is None:
        raise ValueError("shuffle=True needs a numpy Generator, so that the order is reproducible")
    order = generator.permutation(count)
    if not bucket:
        return np.split(order, cuts)
    chunk = np.arange(count) // (batch_size * BUCKET_BATCHES)
    order = order[np.lexsort((split.history_lengths()[order], chunk))]
    batches = np.split(order, cuts)
    return [batches[i] for i in generator.permutation(len(batches))]
