"""Train/validation/test splits: leave-one-out (the papers' protocol) and a global temporal split.

Examples are pairs of indices into :attr:`SequenceData.items` rather than copied histories,
so a split of 1M interactions costs a few arrays and a batch is one vectorised gather.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recdiff.data.sequences import SequenceData
from recdiff.errors import DataError
from recdiff.spec.models import DataSpec

MIN_LENGTH = 3
"""Shortest sequence that yields a validation and a test example (each needs a history)."""


@dataclass(frozen=True, eq=False)
class Split:
    """Examples as indices into SequenceData.items: the target is items[end], the history items[start:end].

    Attributes:
        start: int64 [n], first history index (already cut to the last ``max_len`` items).
        end: int64 [n], index of the target; always above ``start``.
    """

    start: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.end)

    def history_lengths(self) -> np.ndarray:
        """History length of every example: int64 [n]."""
        lengths: np.ndarray = self.end - self.start
        return lengths

    def users(self, data: SequenceData) -> np.ndarray:
        """The user (row of ``data``) of every example: int64 [n]."""
        users: np.ndarray = np.searchsorted(data.offsets, self.end, side="right") - 1
        return users


@dataclass(frozen=True, eq=False)
class Splits:
    """The training, validation and test splits of one :class:`SequenceData`."""

    train: Split
    val: Split
    test: Split


def leave_one_out(data: SequenceData, max_len: int) -> Splits:
    """Split every user's sequence ``s`` of length ``n`` by leave-one-out.

    The test target is ``s[n-1]``, the validation target ``s[n-2]``, and every position
    ``1..n-3`` of the training part ``s[:n-2]`` is a training target whose history is the
    items before it. Users with fewer than 3 interactions give no example.

    Args:
        data: The sequences.
        max_len: Longest history kept; older items are dropped.

    Returns:
        The train, validation and test splits, each ordered by user then position.

    Raises:
        DataError: No user has enough interactions for a validation or a training example.
    """
    if max_len < 1:
        raise DataError(f"data.max_len is {max_len}. Set data.max_len to at least 1.")
    first = data.offsets[:-1]
    lengths = data.lengths()
    kept = lengths >= MIN_LENGTH
    if not kept.any():
        raise DataError(
            f"No user has {MIN_LENGTH} or more interactions (longest: {int(lengths.max(initial=0))}), so "
            f"leave-one-out has nothing to validate or test on. Use data with at least {MIN_LENGTH} "
            f"interactions per user (one for training, one for validation, one for testing)."
        )
    test_end = (first + lengths - 1)[kept]
    val_end = test_end - 1

    per_user = np.maximum(lengths - MIN_LENGTH, 0)
    if per_user.sum() == 0:
        raise DataError(
            f"No user has more than {MIN_LENGTH} interactions, so there is no training example (a user "
            f"needs {MIN_LENGTH + 1}: a history item, a training target, a validation and a test target). "
            f"Use data with longer sequences."
        )
    user = np.repeat(np.arange(data.num_users), per_user)
    step = np.arange(len(user)) - np.repeat(np.cumsum(per_user) - per_user, per_user)
    train_end = first[user] + 1 + step

    return Splits(
        train=_truncated(first[user], train_end, max_len),
        val=_truncated(first[kept], val_end, max_len),
        test=_truncated(first[kept], test_end, max_len),
    )


def _truncated(first: np.ndarray, end: np.ndarray, max_len: int) -> Split:
    return Split(start=np.maximum(first, end - max_len).astype(np.int64), end=end.astype(np.int64))


def make_splits(data: SequenceData, spec: DataSpec) -> Splits:
    """The splits ``spec.split`` names, with histories cut to ``spec.max_len``."""
    if spec.split == "temporal":
        return temporal(data, spec.temporal_holdout, spec.max_len)
    return leave_one_out(data, spec.max_len)


def temporal(data: SequenceData, holdout: float, max_len: int) -> Splits:
    """Split all interactions at two global time cut-offs, so no example is scored with its future.

    With ``h = holdout``, the test cut-off is the ``1 - h`` quantile of all interaction
    times and the validation cut-off the ``1 - 2h`` quantile. Every interaction at or after
    the test cut-off is a test target, every one at or after the validation cut-off (and
    before the test cut-off) a validation target, and every earlier one a training target;
    the history of each is all of its user's earlier items (cut to ``max_len``). A user's
    first interaction has no history and is never a target. A user may thus have several
    examples in a split, or none.

    Args:
        data: The sequences, with ``times``.
        holdout: Share of the latest interactions used for test, and again for validation.
        max_len: Longest history kept; older items are dropped.

    Raises:
        DataError: ``data`` has no times, or one of the splits is empty.
    """
    if data.times is None:
        raise DataError(
            "The temporal split needs interaction times, but these sequences were built without them. "
            "Build them with SequenceData.from_frame, or use data.split: leave_one_out."
        )
    if max_len < 1:
        raise DataError(f"data.max_len is {max_len}. Set data.max_len to at least 1.")
    val_cut, test_cut = np.quantile(data.times, [1.0 - 2.0 * holdout, 1.0 - holdout])
    first = np.repeat(data.offsets[:-1], data.lengths())
    end = np.arange(len(data.items), dtype=np.int64)
    has_history = end > first
    test = has_history & (data.times >= test_cut)
    val = has_history & (data.times >= val_cut) & ~test
    train = has_history & ~val & ~test
    for name, chosen in (("training", train), ("validation", val), ("test", test)):
        if not chosen.any():
            raise DataError(
                f"The temporal split (data.temporal_holdout {holdout}: validation from time {val_cut:g}, test "
                f"from {test_cut:g}) has no {name} example. Interaction times are too concentrated to cut "
                f"there: check that data.time_field holds real times, change data.temporal_holdout, or use "
                f"data.split: leave_one_out."
            )
    return Splits(
        train=_truncated(first[train], end[train], max_len),
        val=_truncated(first[val], end[val], max_len),
        test=_truncated(first[test], end[test], max_len),
    )


def joined(*splits: Split) -> Split:
    """The examples of all ``splits`` as one split (e.g. training and validation targets for a final refit)."""
    return Split(start=np.concatenate([s.start for s in splits]), end=np.concatenate([s.end for s in splits]))


def longest_per_user(data: SequenceData, split: Split) -> Split:
    """Each user's example of ``split`` with the latest target (the one whose history contains the others)."""
    return latest_per_user(data, split, 1)


def latest_per_user(data: SequenceData, split: Split, count: int) -> Split:
    """Each user's ``count`` examples of ``split`` with the latest targets (all of them for a user with fewer)."""
    if len(split) == 0 or count == 0:
        return Split(start=split.start[:0], end=split.end[:0])
    users = split.users(data)
    order = np.lexsort((-split.end, users))
    first = np.r_[True, users[order][1:] != users[order][:-1]]
    rank = np.arange(len(order)) - np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    keep = order[rank < count]
    return Split(start=split.start[keep], end=split.end[keep])
