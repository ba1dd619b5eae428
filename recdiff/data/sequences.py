"""Users' chronological item sequences, stored flat so that 1M interactions stay cheap."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recdiff.errors import DataError

INTEGER_TOKEN = r"-?\d{1,18}"
"""Tokens that sort numerically (18 digits always fit in int64)."""


@dataclass(frozen=True, eq=False)
class SequenceData:
    """All users' chronological item sequences as one flat array with offsets (no Python list per user).

    Attributes:
        items: int64 [num_interactions], dense item ids 1..num_items (0 is padding and never used).
        offsets: int64 [num_users + 1]; user ``u``'s sequence is ``items[offsets[u]:offsets[u + 1]]``.
        num_items: Number of distinct items.
        item_ids: Original token of dense item id ``i + 1`` at index ``i`` (object array of str).
        user_ids: Original token of user index ``u`` (object array of str).
        times: float64 [num_interactions], the time of each entry of ``items``, or None when
            unknown. Only the temporal split needs it; the fingerprint ignores it, because
            the model sees only the order.
    """

    items: np.ndarray
    offsets: np.ndarray
    num_items: int
    item_ids: np.ndarray
    user_ids: np.ndarray
    times: np.ndarray | None = None

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> SequenceData:
        """Build sequences from a ``user, item, time`` frame.

        Each user's interactions are ordered by time with a stable sort, so equal times keep
        file order. Users and items are ordered by their tokens (numerically when every token
        is an integer), and items get dense ids 1..N in that order: data whose item ids are
        already 1..N keeps them.

        Args:
            frame: Columns ``user``, ``item`` (ids; non-strings are turned into strings) and
                ``time`` (numbers), one row per interaction.

        Raises:
            DataError: The frame has no rows, lacks a column, or has missing values.
        """
        missing = [column for column in ("user", "item", "time") if column not in frame.columns]
        if missing:
            raise DataError(
                f"Interactions lack the column(s) {', '.join(missing)} (columns: "
                f"{', '.join(map(str, frame.columns))}). Pass a frame with columns user, item and time, "
                f"such as the one read_interactions returns."
            )
        if frame.empty:
            raise DataError("There are no interactions. Use a file or frame with at least one interaction.")
        user_index, user_ids = _rank_tokens(frame["user"], "user")
        item_index, item_ids = _rank_tokens(frame["item"], "item")
        time = frame["time"].to_numpy(dtype=np.float64)
        if np.isnan(time).any():
            raise DataError(
                "Some interactions have no time. Give every interaction a time, or drop those rows."
            )
        order = np.lexsort((time, user_index))
        counts = np.bincount(user_index, minlength=len(user_ids))
        return cls(
            items=item_index[order] + 1,
            offsets=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
            num_items=len(item_ids),
            item_ids=item_ids,
            user_ids=user_ids,
            times=time[order],
        )

    @property
    def num_users(self) -> int:
        """Number of users (sequences)."""
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        """Sequence length of every user: int64 [num_users]."""
        return np.diff(self.offsets)

    def fingerprint(self) -> str:
        """Short sha256 of items and offsets, to check that a checkpoint was trained on this data."""
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(self.items, dtype="<i8").tobytes())
        digest.update(np.ascontiguousarray(self.offsets, dtype="<i8").tobytes())
        return digest.hexdigest()[:16]


def _rank_tokens(column: pd.Series, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Index of each row's token in the sorted distinct tokens.

    Returns:
        ``index`` int64 [rows] and ``tokens`` (object array of str [distinct]), sorted
        numerically when every token is an integer, else as strings.
    """
    if not pd.api.types.is_string_dtype(column):
        column = column.astype(str)
    codes, uniques = pd.factorize(column)
    if (codes < 0).any():
        raise DataError(
            f"Some interactions have no {what} id. Give every interaction a {what}, or drop those rows."
        )
    tokens = np.asarray(uniques, dtype=object)
    order = np.argsort(tokens, kind="stable")
    if pd.Series(tokens, dtype=object).str.fullmatch(INTEGER_TOKEN).all():
        order = order[np.argsort(tokens[order].astype(np.int64), kind="stable")]
    rank = np.empty(len(tokens), dtype=np.int64)
    rank[order] = np.arange(len(tokens))
    return rank[codes], tokens[order]
